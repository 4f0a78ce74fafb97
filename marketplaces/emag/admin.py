"""Staff admin of the eMAG app: accounts ("sync now", "sync offers", "back up now"), orders
("acknowledge"), offers, callbacks and backups (with "restore")."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_actions import admin_run_each
from core.admin_forms import SecretsKeptForm, ServiceCheckedForm, ServiceSavedAdmin
from core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from core.crypto import mask

from .clients.emag import EmagError
from .models import EmagAccount, EmagBackup, EmagCallback, EmagOffer, EmagOrder, EmagOrderItem
from .services import accounts, backups, orders
from .tasks import offers_sync


class EmagAccountForm(SecretsKeptForm, ServiceCheckedForm):
    def check(self, instance: EmagAccount) -> None:
        accounts.emag_account_check(account=instance)

    class Meta:
        model = EmagAccount
        fields = [
            "merchant",
            "name",
            "platform",
            "api_user",
            "api_password",
            "is_active",
            "backup_enabled",
            "backup_retention_days",
        ]


@admin.register(EmagAccount)
class EmagAccountAdmin(ServiceSavedAdmin):
    form = EmagAccountForm
    save_service = staticmethod(accounts.emag_account_save)
    list_display = ["name", "merchant", "platform", "masked_user", "is_active", "last_sync_at", "orders_link"]
    list_filter = ["platform", "is_active", "merchant"]
    search_fields = ["name", "merchant__name"]
    readonly_fields = ["callback_path", "orders_modified_cursor", "last_sync_at", "last_error", "created_at"]
    actions = ["sync_now", "sync_offers", "backup_now"]

    @admin.display(description=_("API user"))
    def masked_user(self, account: EmagAccount) -> str:
        return mask(account.api_user)

    @admin.display(description=_("callback URL (set it in eMAG's seller portal)"))
    def callback_path(self, account: EmagAccount) -> str:
        if not account.pk:
            return "—"
        return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("emag-callback", args=[account.callback_token])

    @admin.display(description=_("orders"))
    def orders_link(self, account: EmagAccount) -> str:
        url = reverse("admin:marketplaces_emag_emagorder_changelist") + f"?account__id__exact={account.pk}"
        return format_html('<a href="{}">{}</a>', url, account.orders.count())

    @admin.action(description=_("Sync now (new and modified orders)"))
    def sync_now(self, request: HttpRequest, queryset: QuerySet[EmagAccount]) -> None:
        for account in queryset.select_related("merchant"):
            run = orders.sync_request(account=account)
            url = reverse("admin:core_syncrun_change", args=[run.pk])
            self.message_user(
                request,
                format_html(gettext('{}: order sync <a href="{}">#{}</a> queued.'), account, url, run.pk),
                messages.SUCCESS,
            )

    @admin.action(description=_("Sync offers (prices, stock, competition)"))
    def sync_offers(self, request: HttpRequest, queryset: QuerySet[EmagAccount]) -> None:
        for account in queryset:
            offers_sync.delay(account.pk)
        self.message_user(
            request,
            gettext("Offer sync queued for %(count)d account(s).") % {"count": queryset.count()},
            messages.SUCCESS,
        )

    @admin.action(description=_("Back up now"))
    def backup_now(self, request: HttpRequest, queryset: QuerySet[EmagAccount]) -> None:
        def backup(account: EmagAccount) -> str:
            made = backups.backup_create(account=account)
            return gettext("backup %(file)s (%(counts)s).") % {"file": made.file_name, "counts": made.counts}

        admin_run_each(self, request, queryset, backup, done=gettext("%(count)d account(s) backed up."))


class EmagOrderItemInline(ReadOnlyInline):
    model = EmagOrderItem
    fields = (
        "line_id",
        "part_number",
        "part_number_key",
        "name",
        "quantity",
        "storno_qty",
        "sale_price",
        "vat",
        "status",
    )
    readonly_fields = fields


@admin.register(EmagOrder)
class EmagOrderAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = [
        "emag_id",
        "account",
        "date",
        "status_display",
        "payment_display",
        "customer_name",
        "cashed_cod",
        "cancellation_display",
        "is_storno",
        "acknowledged_at",
    ]
    list_filter = ["status", "payment_mode_id", "is_storno", "account"]
    search_fields = ["=emag_id", "customer_name"]
    date_hierarchy = "date"
    list_select_related = ["account"]
    inlines = [EmagOrderItemInline]
    actions = ["acknowledge"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        # eMAG is the source of truth: orders change there (or through the API's validated writes).
        return [f.name for f in EmagOrder._meta.concrete_fields]

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, order: EmagOrder) -> str:
        return order.status_label

    @admin.display(description=_("payment"), ordering="payment_mode_id")
    def payment_display(self, order: EmagOrder) -> str:
        return order.payment_mode_label

    @admin.display(description=_("cancellation reason"), ordering="cancellation_reason")
    def cancellation_display(self, order: EmagOrder) -> str:
        return order.cancellation_reason_label or "—"

    @admin.action(description=_("Acknowledge (new → in progress)"))
    def acknowledge(self, request: HttpRequest, queryset: QuerySet[EmagOrder]) -> None:
        admin_run_each(
            self, request, queryset.select_related("account"), lambda order: orders.order_acknowledge(order=order),
            done=gettext("%(count)d order(s) acknowledged."), errors=(EmagError,),
            name=lambda order: gettext("Order %(id)s") % {"id": order.emag_id},
        )  # fmt: skip


@admin.register(EmagOffer)
class EmagOfferAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = [
        "part_number",
        "name",
        "account",
        "sale_price",
        "min_sale_price",
        "max_sale_price",
        "stock",
        "buy_button_rank",
        "best_offer_sale_price",
        "number_of_offers",
    ]
    list_filter = ["account", "buy_button_rank"]
    search_fields = ["part_number", "part_number_key", "name"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in EmagOffer._meta.concrete_fields]


@admin.register(EmagCallback)
class EmagCallbackAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = [
        "emag_order_id",
        "account",
        "status",
        "attempts",
        "deliveries",
        "received_at",
        "processed_at",
        "last_error",
    ]
    list_filter = ["status", "account"]


@admin.register(EmagBackup)
class EmagBackupAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = ["file_name", "account", "kind", "created_at", "size_bytes", "counts"]
    list_filter = ["account", "kind"]
    actions = ["restore"]

    @admin.action(description=_("Restore (idempotent: existing rows are updated, none duplicated)"))
    def restore(self, request: HttpRequest, queryset: QuerySet[EmagBackup]) -> None:
        def restore(backup: EmagBackup) -> str:
            report = backups.backup_restore(backup=backup)
            return gettext("restored %(restored)s") % {"restored": report["restored"]}

        admin_run_each(
            self, request, queryset.select_related("account"), restore, done=gettext("%(count)d backup(s) restored."),
            errors=(OSError, ValueError), name=lambda backup: backup.file_name,
        )  # fmt: skip
