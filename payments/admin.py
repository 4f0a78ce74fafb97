from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.utils.html import format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_forms import SecretsKeptForm, ServiceCheckedForm, ServiceSavedAdmin
from core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from core.crypto import mask

from .models import (
    BrewCommand,
    Device,
    Drink,
    Order,
    OrderEvent,
    Payment,
    PaymentAccount,
    Receipt,
    Refund,
    TmetrAccount,
    WebhookDelivery,
)
from .services import accounts, catalog
from .services.settlement import money_back, settlement_retry, stuck_settlements


class PaymentAccountForm(SecretsKeptForm, ServiceCheckedForm):
    """Secrets are write-only: an empty field keeps the stored value; the current one is shown masked."""

    def check(self, instance: PaymentAccount) -> None:
        accounts.payment_account_check(account=instance)

    class Meta:
        model = PaymentAccount
        fields = [
            "merchant",
            "yookassa_shop_id",
            "yookassa_secret_key",
            "tbank_terminal_key",
            "tbank_password",
            "issues_receipts",
            "two_stage",
        ]


@admin.register(PaymentAccount)
class PaymentAccountAdmin(ServiceSavedAdmin):
    form = PaymentAccountForm
    save_service = staticmethod(accounts.payment_account_save)
    list_display = [
        "merchant",
        "yookassa_shop_id",
        "yookassa_key",
        "tbank_terminal_key",
        "tbank_pw",
        "issues_receipts",
        "two_stage",
    ]

    @admin.display(description=_("YooKassa secret"))
    def yookassa_key(self, obj: PaymentAccount) -> str:
        return mask(obj.yookassa_secret_key)

    @admin.display(description=_("T-Bank password"))
    def tbank_pw(self, obj: PaymentAccount) -> str:
        return mask(obj.tbank_password)


class TmetrAccountForm(SecretsKeptForm, ServiceCheckedForm):
    class Meta:
        model = TmetrAccount
        fields = ["merchant", "username", "password", "access_token", "refresh_token"]

    def check(self, instance: TmetrAccount) -> None:
        accounts.tmetr_account_check(account=instance)


@admin.register(TmetrAccount)
class TmetrAccountAdmin(ServiceSavedAdmin):
    """The merchant's Tmetr login: set username/password and tokens are fetched and renewed by
    themselves; or paste a bearer token, used from the next call on (no restart)."""

    form = TmetrAccountForm
    save_service = staticmethod(accounts.tmetr_account_save)
    list_display = ["merchant", "username", "token", "access_expires_at", "refresh_expires_at", "updated_at"]
    readonly_fields = ["access_expires_at", "refresh_expires_at", "updated_at"]

    @admin.display(description=_("access token"))
    def token(self, obj: TmetrAccount) -> str:
        return mask(obj.access_token)


class DeviceForm(forms.ModelForm):
    class Meta:
        model = Device
        fields = [
            "merchant",
            "code",
            "name",
            "location",
            "channel",
            "external_id",
            "provider",
            "ack_timeout_seconds",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        catalog.device_check(
            instance=self.instance,
            merchant=data.get("merchant"),
            channel=data.get("channel") or Device.Channel.TMETR,
            external_id=data.get("external_id") or "",
            code=data.get("code") or "",
        )
        return data


class DrinkForm(forms.ModelForm):
    class Meta:
        model = Drink
        fields = [
            "merchant",
            "device",
            "name",
            "external_id",
            "price_small",
            "price_medium",
            "price_big",
            "vat_code",
            "is_active",
        ]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        catalog.drink_check_values(catalog.drink_values(None, data))
        return data


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    form = DeviceForm
    list_display = ["name", "code", "merchant", "channel", "provider", "external_id", "is_active"]
    list_filter = ["is_active", "channel", "provider", "merchant"]
    search_fields = ["name", "code", "external_id"]

    def save_model(self, request: HttpRequest, obj: Device, form: Any, change: bool) -> None:
        with catalog.device_address_taken_is_invalid():  # a concurrent save took the address meanwhile
            super().save_model(request, obj, form, change)

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except ValidationError as exc:  # raised by save_model: nothing was saved, say why
            self.message_user(request, "; ".join(exc.messages), level=messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())


@admin.register(Drink)
class DrinkAdmin(admin.ModelAdmin):
    form = DrinkForm
    list_display = [
        "name",
        "merchant",
        "device",
        "external_id",
        "price_small",
        "price_medium",
        "price_big",
        "is_active",
    ]
    list_filter = ["is_active", "merchant"]
    search_fields = ["name", "external_id"]


class EventInline(ReadOnlyInline):
    model = OrderEvent
    readonly_fields = ["at", "kind", "from_status", "to_status", "note"]


@admin.register(Order)
class OrderAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = ["id", "created_at", "merchant", "device", "drink_name", "size", "amount", "status"]
    list_filter = ["status", "merchant", "device", "created_at"]
    search_fields = ["id", "machine_order_id", "payment__provider_payment_id"]
    date_hierarchy = "created_at"
    inlines = [EventInline]
    actions = ["return_money"]
    readonly_fields = ["money_history"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Order._meta.fields] + ["money_history"]

    @admin.display(description=_("payment / brew / refund"))
    def money_history(self, order: Order) -> str:
        rows: list[tuple[str, str]] = []
        payment = Payment.objects.filter(order=order).first()
        if payment:
            rows.append(
                (
                    gettext("payment"),
                    f"{payment.provider} {payment.provider_payment_id} {payment.status}, "
                    + gettext("settlement")
                    + f" {payment.settlement}",
                )
            )
            refund = Refund.objects.filter(payment=payment).first()
            if refund:
                rows.append((gettext("refund"), f"{refund.kind} {refund.status} {refund.reason} {refund.error}"))
        brew = BrewCommand.objects.filter(order=order).first()
        if brew:
            rows.append((gettext("brew"), f"{brew.channel} {brew.command_id} {brew.status} {brew.error}"))
        return format_html_join("\n", "<div><b>{}</b>: {}</div>", rows)

    @admin.action(description=_("Return the money (cancel the hold or refund)"))
    def return_money(self, request: HttpRequest, queryset: QuerySet[Order]) -> None:
        started = 0
        for order in queryset:
            payment = Payment.objects.filter(order=order).first()
            if payment and money_back(payment_id=payment.pk, reason=f"admin {request.user}", after_capture=True):
                started += 1
        self.message_user(
            request, gettext("Money return started for %(count)d order(s).") % {"count": started}, messages.INFO
        )


class StuckSettlementFilter(admin.SimpleListFilter):
    """Captures, cancels and refunds due and unconfirmed past the grace period, or failed (REL-1)."""

    title = _("stuck settlements")
    parameter_name = "stuck"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", gettext("Stuck (not confirmed in time)")), ("failed", gettext("Failed (needs attention)"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Payment]) -> QuerySet[Payment]:
        if self.value() == "yes":
            return queryset.filter(stuck_settlements())
        if self.value() == "failed":
            return queryset.filter(settlement__in=[Payment.Settlement.RETURN_FAILED, Payment.Settlement.CAPTURE_FAILED])
        return queryset


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = ["order", "provider", "provider_payment_id", "amount", "status", "settlement", "updated_at"]
    list_filter = [StuckSettlementFilter, "provider", "status", "settlement"]
    search_fields = ["provider_payment_id", "order__id"]
    actions = ["retry_settlement"]

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm("payments.change_payment"))

    @admin.action(description=_("Retry settlement now (same idempotence key)"), permissions=["retry"])
    def retry_settlement(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        """The sweep's own service, now: a stuck capture/cancel/refund runs again; a failed return re-opens."""
        results: dict[str, int] = {}
        for payment in queryset:
            try:
                outcome = settlement_retry(payment_id=payment.pk, staff=True)
            except Exception as exc:  # shown to staff; the sweep tries again
                outcome = gettext("not done yet (%(error)s)") % {"error": type(exc).__name__}
                messages.warning(request, gettext("payment %(id)s: %(error)s") % {"id": payment.pk, "error": exc})
            results[outcome] = results.get(outcome, 0) + 1
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(results.items()))
        self.message_user(request, gettext("Settlement retried — %(summary)s") % {"summary": summary}, messages.INFO)


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    list_display = ["payment", "kind", "amount", "status", "attempts", "reason", "created_at", "finished_at"]
    list_filter = ["kind", "status"]


@admin.register(BrewCommand)
class BrewCommandAdmin(ReadOnlyAdmin):
    list_display = ["command_id", "order", "channel", "status", "attempts", "sent_at", "finished_at"]
    list_filter = ["channel", "status"]


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ["order", "email", "phone", "status", "created_at"]


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "provider",
        "event",
        "provider_payment_id",
        "verified_status",
        "status",
        "attempts",
        "last_error",
    ]
    list_filter = ["provider", "status", "event"]
    search_fields = ["provider_payment_id", "event_key"]
