"""Admin forms for models holding secrets (SPEC PLAT-5)."""

from __future__ import annotations

from typing import Any

from django import forms
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
