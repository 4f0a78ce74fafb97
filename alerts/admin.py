from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_forms import SecretsKeptForm, form_errors_add
from core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline

from .models import Alert, AlertChannel, AlertSettings, Delivery
from .services.channels import alert_channel_check, alert_channel_save, alert_channel_test


class AlertChannelForm(SecretsKeptForm):
    class Meta:
        model = AlertChannel
        fields = ["merchant", "name", "kind", "secret", "telegram_chat_id", "email_to", "is_active"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        merchant = data.get("merchant")
        if merchant is None or self.errors:
            return data
        # Validate through the service's rules without saving (the save below calls the service).
        probe = AlertChannel(merchant=merchant, **{k: v for k, v in data.items() if k != "merchant"})
        try:
            alert_channel_check(probe)
        except ValidationError as exc:
            form_errors_add(self, exc)
        return data


@admin.register(AlertChannel)
class AlertChannelAdmin(admin.ModelAdmin):
    form = AlertChannelForm
    list_display = ["name", "merchant", "kind", "is_active", "state", "last_sent_at"]
    list_filter = ["kind", "is_active", "is_failing", "merchant"]
    readonly_fields = ["is_failing", "last_error", "last_sent_at", "created_at"]
    actions = ["send_test"]

    @admin.display(description=_("state"))
    def state(self, obj: AlertChannel) -> str:
        if obj.is_failing:
            return format_html('<span style="color:#ba2121">{}: {}</span>', gettext("failing"), obj.last_error[:120])
        return gettext("ok")

    def save_model(self, request: HttpRequest, obj: AlertChannel, form: Any, change: bool) -> None:
        data = {k: v for k, v in form.cleaned_data.items() if k != "merchant"}
        saved = alert_channel_save(merchant=form.cleaned_data["merchant"], data=data, account=obj if change else None)
        obj.pk = saved.pk

    @admin.action(description=_("Send a test message"))
    def send_test(self, request: HttpRequest, queryset: QuerySet[AlertChannel]) -> None:
        for channel in queryset.filter(is_active=True):
            alert_channel_test(channel=channel)
        messages.info(request, gettext("Test messages queued; their deliveries show here within seconds."))


class DeliveryInline(ReadOnlyInline):
    model = Delivery
    fields = ["created_at", "channel", "event", "status", "attempts", "last_error", "sent_at"]
    readonly_fields = ["created_at", "channel", "event", "status", "attempts", "last_error", "sent_at"]


@admin.register(Alert)
class AlertAdmin(ReadOnlyAdmin):
    list_display = ["title", "merchant", "condition", "opened_at", "closed_at", "object_link"]
    list_filter = ["condition", ("closed_at", admin.EmptyFieldListFilter), "merchant"]
    search_fields = ["title", "subject"]
    inlines = [DeliveryInline]

    @admin.display(description=_("object"))
    def object_link(self, obj: Alert) -> str:
        return format_html('<a href="{}">{}</a>', obj.link, gettext("open")) if obj.link else "-"


@admin.register(Delivery)
class DeliveryAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "channel", "event", "status", "attempts", "last_error", "sent_at"]
    list_filter = ["status", "event"]


@admin.register(AlertSettings)
class AlertSettingsAdmin(admin.ModelAdmin):
    list_display = ["merchant", "sync_failures", "brew_failures", "brew_silent_minutes", "emag_ack_minutes",
                    "floor_hours", "emag_health_min", "hourly_cap"]  # fmt: skip
