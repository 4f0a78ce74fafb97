"""Staff admin of Kaspi (SPEC MKT-1): stores with write-only secrets, the session state and the
screenshot of a failed login, "log in now" and "sync now"; products, orders (with "accept"), preorders."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse, Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_actions import admin_run_each
from core.admin_forms import SecretsKeptForm, ServiceCheckedForm, ServiceSavedAdmin
from core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from core.crypto import mask
from core.exceptions import IntegrationError
from core.selectors import sync_runs_of

from .models import KaspiOrder, KaspiOrderEntry, KaspiProduct, KaspiStore, Preorder
from .services import orders as orders_service
from .services import preorders as preorders_service
from .services import stores as stores_service


class KaspiStoreForm(SecretsKeptForm):
    class Meta:
        model = KaspiStore
        fields = [
            "merchant",
            "name",
            "merchant_uid",
            "shop_api_token",
            "cabinet_email",
            "cabinet_password",
            "is_active",
        ]


@admin.register(KaspiStore)
class KaspiStoreAdmin(ServiceSavedAdmin):
    form = KaspiStoreForm
    save_service = staticmethod(stores_service.store_save)
    list_display = [
        "name",
        "merchant",
        "merchant_uid",
        "session_state",
        "session_reason_short",
        "products_count",
        "is_active",
        "last_products_sync_at",
        "last_orders_sync_at",
    ]
    list_filter = ["session_state", "is_active", "merchant"]
    search_fields = ["name", "merchant_uid", "merchant__name"]
    readonly_fields = [
        "session_state",
        "session_reason",
        "screenshot",
        "session_logged_in_at",
        "session_checked_at",
        "masked_token",
        "masked_email",
        "products_count",
        "last_error",
        "last_products_sync_at",
        "last_orders_sync_at",
        "orders_synced_until",
        "latest_runs",
        "created_at",
    ]
    actions = ["log_in_now", "sync_now"]

    @admin.display(description=_("reason"))
    def session_reason_short(self, store: KaspiStore) -> str:
        return store.session_reason[:80]

    @admin.display(description=_("Shop API token"))
    def masked_token(self, store: KaspiStore) -> str:
        return mask(store.shop_api_token)

    @admin.display(description=_("cabinet e-mail"))
    def masked_email(self, store: KaspiStore) -> str:
        return mask(store.cabinet_email)

    @admin.display(description=_("screenshot of the failed login"))
    def screenshot(self, store: KaspiStore) -> str:
        if not store.session_screenshot:
            return "—"
        url = reverse("admin:kaspi_kaspistore_screenshot", args=[store.pk])
        return format_html(
            '<a href="{0}"><img src="{0}" alt="{1}" style="max-width:640px;border:1px solid #ccc"></a>',
            url,
            gettext("login screenshot"),
        )

    @admin.display(description=_("latest runs"))
    def latest_runs(self, store: KaspiStore) -> str:
        runs = sync_runs_of(store).filter(kind__startswith="kaspi.")[:4]
        if not runs:
            return "—"
        parts = [
            format_html(
                gettext('<a href="{}">#{} {} {}: {} of {}</a>'),
                reverse("admin:core_syncrun_change", args=[r.pk]),
                r.pk,
                r.kind,
                r.get_status_display(),
                r.items_done,
                "?" if r.items_total is None else r.items_total,
            )
            for r in runs
        ]
        return format_html("<br>".join(["{}"] * len(parts)), *parts)

    @admin.action(description=_("Log in now (real browser)"))
    def log_in_now(self, request: HttpRequest, queryset: QuerySet[KaspiStore]) -> None:
        for store in queryset:
            stores_service.login_request(store=store)
            self.message_user(
                request,
                gettext("%(store)s: login queued; the session state updates when it ends.") % {"store": store},
                messages.SUCCESS,
            )

    @admin.action(description=_("Sync now (products and orders)"))
    def sync_now(self, request: HttpRequest, queryset: QuerySet[KaspiStore]) -> None:
        for store in queryset.select_related("merchant"):
            try:
                runs = stores_service.sync_now(store=store)
            except stores_service.NothingToSync as exc:
                self.message_user(request, f"{store}: {exc}", messages.WARNING)
                continue
            self.message_user(
                request,
                gettext("%(store)s: queued runs %(runs)s.")
                % {"store": store, "runs": ", ".join(f"#{r.pk} {r.kind}" for r in runs)},
                messages.SUCCESS,
            )

    def get_urls(self) -> list[Any]:
        def view(request: HttpRequest, pk: int) -> FileResponse:
            store = get_object_or_404(KaspiStore, pk=pk)
            name = store.session_screenshot.name if store.session_screenshot else ""
            if not name or not default_storage.exists(name):
                raise Http404("no screenshot")
            return FileResponse(default_storage.open(name, "rb"), content_type="image/png")

        custom = [path("<int:pk>/screenshot/", self.admin_site.admin_view(view), name="kaspi_kaspistore_screenshot")]
        return custom + super().get_urls()


@admin.register(KaspiProduct)
class KaspiProductAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = [
        "sku",
        "name",
        "brand",
        "price",
        "kaspi_product_id",
        "is_available",
        "is_active",
        "store",
        "last_seen_at",
    ]
    list_filter = ["is_active", "is_available", "store", "brand"]
    search_fields = ["sku", "name", "brand", "=kaspi_product_id"]
    list_select_related = ["store"]
    readonly_fields = [f.name for f in KaspiProduct._meta.fields]


class EntryInline(ReadOnlyInline):
    model = KaspiOrderEntry
    fields = ["entry_number", "sku", "name", "kaspi_product_id", "quantity", "base_price", "total_price"]
    readonly_fields = ["entry_number", "sku", "name", "kaspi_product_id", "quantity", "base_price", "total_price"]


@admin.register(KaspiOrder)
class KaspiOrderAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = ["code", "store", "state", "status", "total_price", "creation_date", "customer_name", "accepted_at"]
    list_filter = ["state", "status", "is_kaspi_delivery", "store"]
    search_fields = ["code", "=kaspi_id", "customer_phone", "customer_name"]
    date_hierarchy = "creation_date"
    list_select_related = ["store"]
    readonly_fields = [f.name for f in KaspiOrder._meta.fields]
    inlines = [EntryInline]
    actions = ["accept"]

    @admin.action(description=_("Accept order at Kaspi"))
    def accept(self, request: HttpRequest, queryset: QuerySet[KaspiOrder]) -> None:
        admin_run_each(
            self, request, queryset.select_related("store"), lambda order: orders_service.order_accept(order=order),
            done=gettext("%(count)d order(s) accepted."), errors=(IntegrationError,),
        )  # fmt: skip


class PreorderForm(ServiceCheckedForm):
    class Meta:
        model = Preorder
        fields = "__all__"

    def check(self, instance: Preorder) -> None:
        preorders_service.preorder_price_check(price=instance.price)


@admin.register(Preorder)
class PreorderAdmin(ServiceSavedAdmin):
    form = PreorderForm
    kept_on_change = ("store",)
    list_display = ["article", "name", "brand", "price", "delivery_days", "status", "store", "updated_at"]
    list_filter = ["status", "store"]
    search_fields = ["article", "name", "brand"]
    raw_id_fields = ["product"]

    def service_save(self, *, stored: Preorder | None, data: dict[str, Any]) -> Preorder:
        store = data.pop("store", None)
        if stored is None:
            return preorders_service.preorder_create(store=store, **data)
        return preorders_service.preorder_update(preorder=stored, **data)
