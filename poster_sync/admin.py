"""Staff admin of poster_sync (SPEC PLAT-11, POS-1 … POS-5): accounts with a write-only token, their sync
status, "sync now" and "force sync" (queued, rate-limited), the catalogue read-only, a webhook log browser."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_forms import SecretsKeptForm, ServiceSavedAdmin
from core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from core.crypto import mask

from .models import (
    Category,
    Ingredient,
    IngredientCategory,
    PosterAccount,
    Storage,
    Supplier,
    SyncStatus,
    WebhookLog,
    WebhookStatus,
)
from .services import accounts, sync, webhooks


class PosterAccountForm(SecretsKeptForm):
    # The token is write-only: paste a personal-integration token here; blank keeps the stored one.

    class Meta:
        model = PosterAccount
        fields = ["merchant", "account", "account_number", "access_token", "source", "api_url", "is_active"]


class SyncStatusInline(ReadOnlyInline):
    model = SyncStatus
    fields = (
        "entity",
        "last_sync_at",
        "last_success_at",
        "sync_count",
        "items_count",
        "consecutive_failures",
        "last_error",
    )
    readonly_fields = fields


@admin.register(PosterAccount)
class PosterAccountAdmin(ServiceSavedAdmin):
    """Saves through ``poster_account_save``: a new pasted token clears ``needs_reconnect`` there."""

    form = PosterAccountForm
    save_service = staticmethod(accounts.poster_account_save)
    list_display = [
        "account",
        "merchant",
        "account_number",
        "source",
        "masked_token",
        "is_active",
        "connected_at",
        "needs_reconnect",
        "last_error",
    ]
    list_filter = ["is_active", "needs_reconnect", "source", "merchant"]
    search_fields = ["account", "account_number", "merchant__name"]
    readonly_fields = ["masked_token", "connected_at", "created_at", "needs_reconnect", "last_error", "connect_link"]
    inlines = [SyncStatusInline]
    actions = ["sync_now", "sync_force"]

    @admin.display(description=_("token"))
    def masked_token(self, account: PosterAccount) -> str:
        return mask(account.access_token)

    @admin.display(description=_("connect through Poster (OAuth)"))
    def connect_link(self, account: PosterAccount) -> str:
        if not account.pk:
            return "—"
        url = reverse("poster-oauth-authorize") + f"?merchant={account.merchant_id}"
        return format_html('<a href="{}">{}</a>', url, gettext("Connect or reconnect with Poster"))

    def _sync(self, request: HttpRequest, queryset: QuerySet[PosterAccount], force: bool) -> None:
        for account in queryset.select_related("merchant"):
            try:
                runs = sync.sync_request(account=account, force=force)
            except sync.SyncRateLimited as exc:
                self.message_user(request, f"{account}: {exc}", messages.WARNING)
                continue
            queued = {entity: run for entity, run in runs.items() if run is not None}
            if not queued:
                self.message_user(
                    request,
                    gettext(
                        "%(account)s: every entity is fresh (synced in the last 24 h); use “Force sync” to sync anyway."
                    )
                    % {"account": account},
                    messages.INFO,
                )
                continue
            links = format_html_join(
                ", ",
                '<a href="{}">{} #{}</a>',
                ((reverse("admin:core_syncrun_change", args=[run.pk]), e, run.pk) for e, run in queued.items()),
            )
            self.message_user(request, format_html(gettext("{}: queued {}"), account, links), messages.SUCCESS)

    @admin.action(description=_("Sync now (entities older than 24 h)"))
    def sync_now(self, request: HttpRequest, queryset: QuerySet[PosterAccount]) -> None:
        self._sync(request, queryset, force=False)

    @admin.action(description=_("Force sync (every entity)"))
    def sync_force(self, request: HttpRequest, queryset: QuerySet[PosterAccount]) -> None:
        self._sync(request, queryset, force=True)


class EntityAdmin(ReadOnlyAdmin):
    list_display = ["poster_id", "name", "account", "removed_at", "synced_at"]
    list_filter = [("removed_at", admin.EmptyFieldListFilter), "account"]
    search_fields = ["=poster_id", "name"]
    list_select_related = ["account"]


@admin.register(Supplier)
class SupplierAdmin(EntityAdmin):
    list_display = ["poster_id", "name", "phone", "tin", "account", "removed_at", "synced_at"]


@admin.register(Ingredient)
class IngredientAdmin(EntityAdmin):
    list_display = [
        "poster_id",
        "name",
        "unit",
        "left",
        "category_poster_id",
        "hidden",
        "account",
        "removed_at",
        "synced_at",
    ]
    list_filter = [("removed_at", admin.EmptyFieldListFilter), "hidden", "unit", "account"]


@admin.register(Storage)
class StorageAdmin(EntityAdmin):
    list_display = ["poster_id", "name", "address", "account", "removed_at", "synced_at"]


@admin.register(Category)
class CategoryAdmin(EntityAdmin):
    list_display = ["poster_id", "name", "parent_poster_id", "hidden", "account", "removed_at", "synced_at"]


@admin.register(IngredientCategory)
class IngredientCategoryAdmin(EntityAdmin):
    pass


@admin.register(SyncStatus)
class SyncStatusAdmin(ReadOnlyAdmin):
    list_display = [
        "account",
        "entity",
        "last_sync_at",
        "last_success_at",
        "sync_count",
        "items_count",
        "consecutive_failures",
        "alerted_at",
        "last_error",
    ]
    list_filter = ["entity", "account"]


@admin.register(WebhookLog)
class WebhookLogAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "account_name",
        "object",
        "object_id",
        "action",
        "signature_valid",
        "status",
        "attempts",
        "short_error",
    ]
    list_filter = ["status", "signature_valid", "object", "action", "account"]
    search_fields = ["=object_id", "account_name"]
    date_hierarchy = "received_at"
    show_full_result_count = False
    actions = ["retry"]

    @admin.display(description=_("error / outcome"))
    def short_error(self, entry: WebhookLog) -> str:
        return entry.last_error[:120]

    @admin.action(description=_("Retry processing (failed deliveries)"))
    def retry(self, request: HttpRequest, queryset: QuerySet[WebhookLog]) -> None:
        count = sum(
            webhooks.webhook_retry(log_id=pk)
            for pk in queryset.filter(status=WebhookStatus.FAILED).values_list("pk", flat=True)
        )
        self.message_user(
            request, gettext("%(count)d failed deliveries queued again.") % {"count": count}, messages.SUCCESS
        )
