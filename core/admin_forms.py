"""Admin forms for models holding secrets (SPEC PLAT-5), and the admin edge of a service: the form
checks with the service's rules, the save goes through the service (issue 22)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext

from .fields import EncryptedTextField


class SecretsKeptForm(forms.ModelForm):
    """Every encrypted field is a password input that never shows the stored value; leaving it
    blank keeps the stored secret, so staff can edit other fields without retyping credentials."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in self.secret_fields():
            field = self.fields[name]
            field.required = False
            field.widget = forms.PasswordInput(render_value=False)
            if self.instance.pk:
                field.help_text = gettext("Leave blank to keep the stored value.")

    def secret_fields(self) -> list[str]:
        return [
            f.name
            for f in self._meta.model._meta.concrete_fields
            if isinstance(f, EncryptedTextField) and f.name in self.fields
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.instance.pk:
            for name in self.secret_fields():
                if not data.get(name):
                    data[name] = getattr(self.instance, name)
        return data


def form_errors_add(form: forms.BaseForm, exc: ValidationError) -> None:
    """A service's ValidationError as the form's errors; a key the form has no field for is form-wide."""
    errors = exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    for field, messages in errors.items():
        form.add_error(field if field in form.fields else None, messages)


class ServiceCheckedForm(forms.ModelForm):
    """An admin form holding the service's rules, not copies of them: once the model's own validation
    passes, ``check`` (the service's check of the object as it would be saved) runs on the built
    instance, and what it refuses is a form error rather than a 500 from the save."""

    def check(self, instance: Any) -> None:
        raise NotImplementedError

    def _post_clean(self) -> None:
        super()._post_clean()  # type: ignore[misc]  # ModelForm has it; the stubs do not
        if not self.errors:
            try:
                self.check(self.instance)
            except ValidationError as exc:
                form_errors_add(self, exc)


class ServiceSavedAdmin(admin.ModelAdmin):
    """An admin whose save is the service's (the API's) write: ``service_save`` gets the stored row
    (None when adding; never the form's instance, which already carries the new values, so a
    service can tell what changed) and the form's cleaned data. ``kept_on_change`` names what an
    object cannot move to (its merchant, store or product), shown read-only once it exists."""

    kept_on_change: tuple[str, ...] = ("merchant",)
    save_service: Callable[..., Any]  # an account's ``<entity>_save(*, merchant, data, account)``

    def service_save(self, *, stored: Any, data: dict[str, Any]) -> Any:
        merchant = data.pop("merchant", None) or stored.merchant
        return type(self).save_service(merchant=merchant, data=data, account=stored)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = list(super().get_readonly_fields(request, obj))
        return fields if obj is None else [*fields, *(f for f in self.kept_on_change if f not in fields)]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        stored = type(obj)._default_manager.get(pk=obj.pk) if change else None
        saved = self.service_save(stored=stored, data=dict(form.cleaned_data))
        obj.pk = saved.pk  # the admin's redirect and change message use ``obj``
