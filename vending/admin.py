"""Staff admin of the vending app (SPEC PLAT-11, VEN-3, VEN-4): accounts with "test connection" and
"sync now" (enqueued, never blocking), runs with progress, read-only transactions, the report page."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_forms import SecretsKeptForm, ServiceCheckedForm, ServiceSavedAdmin
from core.admin_readonly import ReadOnlyAdmin
from core.crypto import mask
from core.selectors import sync_runs_of

from . import services
from .models import DailyRollup, SyncKind, SyncMode, Terminal, Transaction, VendistaAccount
from .services import accounts
from .views import report_page


class VendistaAccountForm(SecretsKeptForm, ServiceCheckedForm):
    # Secrets are write-only: the field is empty on the form and a blank submit keeps the stored value.

    def check(self, instance: VendistaAccount) -> None:
        accounts.vendista_account_check(account=instance)

    class Meta:
        model = VendistaAccount
        fields = [
            "merchant",
            "name",
            "login",
            "password",
            "token",
            "time_zone",
            "verify_tls",
            "ca_bundle_path",
            "rate_per_second",
            "is_active",
        ]


@admin.register(VendistaAccount)
class VendistaAccountAdmin(ServiceSavedAdmin):
    form = VendistaAccountForm
    save_service = staticmethod(accounts.vendista_account_save)
    list_display = [
        "name",
        "merchant",
        "login",
        "masked_token",
        "time_zone",
        "subscription_status",
        "is_active",
        "last_sync_at",
        "latest_run",
    ]
    list_filter = ["is_active", "subscription_status", "merchant"]
    search_fields = ["name", "login", "merchant__name"]
    readonly_fields = [
        "subscription_status",
        "last_error",
        "last_sync_at",
        "created_at",
        "masked_token",
        "masked_password",
    ]
    actions = ["test_connection", "sync_now", "sync_full"]

    @admin.display(description=_("token"))
    def masked_token(self, account: VendistaAccount) -> str:
        return mask(account.token)

    @admin.display(description=_("password"))
    def masked_password(self, account: VendistaAccount) -> str:
        return mask(account.password)

    @admin.display(description=_("latest run"))
    def latest_run(self, account: VendistaAccount) -> str:
        run = sync_runs_of(account).filter(kind=SyncKind.TRANSACTIONS).first()
        if run is None:
            return "—"
        total = "?" if run.items_total is None else run.items_total
        url = reverse("admin:core_syncrun_change", args=[run.pk])
        return format_html(
            gettext('<a href="{}">#{} {}: {} of {}</a>'), url, run.pk, run.get_status_display(), run.items_done, total
        )

    @admin.action(description=_("Test connection"))
    def test_connection(self, request: HttpRequest, queryset: QuerySet[VendistaAccount]) -> None:
        for account in queryset:
            result = services.account_test_connection(account=account)
            level = messages.SUCCESS if result.ok else messages.ERROR
            self.message_user(request, f"{account}: {result.status} ({result.status_code}) — {result.message}", level)

    def _sync(self, request: HttpRequest, queryset: QuerySet[VendistaAccount], mode: str) -> None:
        for account in queryset.select_related("merchant"):
            run = services.sync_request(account=account, mode=mode)
            url = reverse("admin:core_syncrun_change", args=[run.pk])
            self.message_user(
                request,
                format_html(
                    gettext('{}: sync run <a href="{}">#{}</a> queued ({}); its progress shows as “X of Y”.'),
                    account,
                    url,
                    run.pk,
                    run.mode,
                ),
                messages.SUCCESS,
            )

    @admin.action(description=_("Sync now (incremental)"))
    def sync_now(self, request: HttpRequest, queryset: QuerySet[VendistaAccount]) -> None:
        self._sync(request, queryset, SyncMode.INCREMENTAL)

    @admin.action(description=_("Full sync"))
    def sync_full(self, request: HttpRequest, queryset: QuerySet[VendistaAccount]) -> None:
        self._sync(request, queryset, SyncMode.FULL)

    def get_urls(self) -> list[Any]:
        def view(request: HttpRequest) -> HttpResponse:
            return report_page(request, site=self.admin_site)

        custom = [path("report/", self.admin_site.admin_view(view), name="vending_report")]
        return custom + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        extra_context = {**(extra_context or {}), "report_url": reverse("admin:vending_report")}
        return super().changelist_view(request, extra_context)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = [
        "vendista_id",
        "account",
        "term_id",
        "time",
        "sum_display",
        "machine_item_id",
        "card_number",
        "status",
        "result",
        "is_refund",
        "reverse_id",
    ]
    list_filter = ["is_refund", "status", "account"]
    search_fields = ["=vendista_id", "=term_id", "card_number"]
    date_hierarchy = "time"
    show_full_result_count = False  # no COUNT(*) over millions of rows on every page
    list_select_related = ["account"]

    @admin.display(description=_("sum"), ordering="sum_minor")
    def sum_display(self, tx: Transaction) -> str:
        return f"{tx.sum_minor / 100:.2f}"


@admin.register(Terminal)
class TerminalAdmin(admin.ModelAdmin):
    """Terminals come from Vendista; staff only set the link to the payments device of the machine."""

    list_display = ["term_id", "comment", "account", "serial_number", "last_online_time", "device"]
    list_filter = ["account"]
    search_fields = ["=term_id", "comment", "serial_number"]
    fields = ["account", "term_id", "comment", "serial_number", "last_online_time", "last_hour_online", "device"]
    readonly_fields = ["account", "term_id", "comment", "serial_number", "last_online_time", "last_hour_online"]
    raw_id_fields = ["device"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Terminal, form: Any, change: bool) -> None:
        services.terminal_link_device(terminal=obj, device=obj.device)


@admin.register(DailyRollup)
class DailyRollupAdmin(ReadOnlyAdmin):
    list_display = ["day", "account", "term_id", "revenue_gross", "transactions_count", "refunds_count", "refunds_sum"]
    list_filter = ["account"]
    date_hierarchy = "day"
