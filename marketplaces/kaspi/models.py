"""Kaspi stores, their cabinet session, offers (products), Shop API orders and preorders (SPEC MKT-1)."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from core.models import IntegrationAccount, Merchant


class SessionState(models.TextChoices):
    # ok: cookies that answered the last probe. expired: no usable cookies; the next job that needs the
    # cabinet logs in by itself. needs_relogin: a login failed in a way only a person can fix (wrong
    # password, SMS code, a page we do not recognise, no browser): nothing logs in until someone asks.
    OK = "ok", _("OK")
    EXPIRED = "expired", _("Expired")
    NEEDS_RELOGIN = "needs_relogin", _("Needs re-login")


class KaspiStore(IntegrationAccount):
    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="kaspi_stores", verbose_name=_("merchant")
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    merchant_uid = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text=_("Kaspi merchant id (filled from the cabinet after a login when blank)."),
        verbose_name=_("merchant UID"),
    )
    shop_api_token = EncryptedTextField(
        help_text=_("Shop API token (X-Auth-Token) for orders."), verbose_name=_("shop API token")
    )
    cabinet_email = EncryptedTextField(help_text=_("Merchant cabinet login e-mail."), verbose_name=_("cabinet email"))
    cabinet_password = EncryptedTextField(help_text=_("Merchant cabinet password."), verbose_name=_("cabinet password"))
    session_cookies = EncryptedTextField(
        help_text=_("Cabinet session cookies (JSON), kept from the last login."), verbose_name=_("session cookies")
    )
    session_state = models.CharField(
        max_length=16,
        choices=SessionState.choices,
        default=SessionState.EXPIRED,
        db_index=True,
        verbose_name=_("session state"),
    )
    session_reason = models.CharField(max_length=500, blank=True, default="", verbose_name=_("session reason"))
    session_screenshot = models.FileField(
        upload_to="kaspi/screenshots/",
        blank=True,
        default="",
        help_text=_("What the browser saw when the last login failed."),
        verbose_name=_("session screenshot"),
    )
    # Bumped by every successful login: a worker that waited for another's login compares it to see
    # that a fresh session exists and reuses it instead of logging in again.
    session_generation = models.PositiveIntegerField(default=0, verbose_name=_("session generation"))
    session_logged_in_at = models.DateTimeField(null=True, blank=True, verbose_name=_("session logged in at"))
    session_checked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("session checked at"))
    products_count = models.PositiveIntegerField(default=0, verbose_name=_("products count"))
    last_products_sync_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last products sync at"))
    last_orders_sync_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last orders sync at"))
    # Orders are complete up to this instant (the next incremental sync starts a little before it).
    orders_synced_until = models.DateTimeField(null=True, blank=True, verbose_name=_("orders synced until"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        db_table = "marketplaces_kaspistore"  # its name from before the kaspi app (apps.py)
        ordering = ["merchant_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant_uid"], condition=~models.Q(merchant_uid=""), name="uniq_kaspi_store_merchant_uid"
            ),
        ]
        verbose_name = _("Kaspi store")
        verbose_name_plural = _("Kaspi stores")

    def __str__(self) -> str:
        return self.name

    @property
    def last_sync_at(self) -> object:
        times = [t for t in (self.last_products_sync_at, self.last_orders_sync_at) if t]
        return max(times) if times else None


class KaspiProduct(models.Model):
    """One offer of the store's cabinet offer list; removed offers stay, marked inactive."""

    store = models.ForeignKey(KaspiStore, on_delete=models.CASCADE, related_name="products", verbose_name=_("store"))
    sku = models.CharField(max_length=200, help_text=_("The merchant's own SKU."), verbose_name=_("SKU"))
    kaspi_product_id = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_index=True,
        help_text=_("Kaspi product card id (the number at the end of shopLink)."),
        verbose_name=_("Kaspi product ID"),
    )
    name = models.CharField(max_length=500, blank=True, default="", verbose_name=_("name"))
    brand = models.CharField(max_length=200, blank=True, default="", verbose_name=_("brand"))
    category = models.CharField(max_length=200, blank=True, default="", verbose_name=_("category"))
    image_url = models.URLField(max_length=1000, blank=True, default="", verbose_name=_("image URL"))
    shop_link = models.URLField(max_length=1000, blank=True, default="", verbose_name=_("shop link"))
    price = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("Whole tenge (minPrice)."), verbose_name=_("price")
    )
    availabilities = models.JSONField(default=list, blank=True, verbose_name=_("availabilities"))
    city_prices = models.JSONField(default=list, blank=True, verbose_name=_("city prices"))
    is_available = models.BooleanField(default=False, verbose_name=_("is available"))
    is_active = models.BooleanField(
        default=True, help_text=_("Off when the offer left the cabinet list."), verbose_name=_("is active")
    )
    raw = models.JSONField(default=dict, blank=True, verbose_name=_("raw"))
    first_seen_at = models.DateTimeField(auto_now_add=True, verbose_name=_("first seen at"))
    last_seen_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last seen at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        db_table = "marketplaces_kaspiproduct"  # its name from before the kaspi app (apps.py)
        ordering = ["store_id", "sku"]
        constraints = [models.UniqueConstraint(fields=["store", "sku"], name="uniq_kaspi_product_sku")]
        verbose_name = _("Kaspi product")
        verbose_name_plural = _("Kaspi products")

    def __str__(self) -> str:
        return f"{self.sku} {self.name}".strip()


class KaspiOrder(models.Model):
    store = models.ForeignKey(KaspiStore, on_delete=models.CASCADE, related_name="orders", verbose_name=_("store"))
    kaspi_id = models.CharField(max_length=64, help_text=_("Shop API order id."), verbose_name=_("Kaspi ID"))
    code = models.CharField(
        max_length=64, db_index=True, help_text=_("Order number shown to the buyer."), verbose_name=_("code")
    )
    state = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_index=True,
        help_text=_("Kaspi state: NEW, SIGN_REQUIRED, PICKUP, DELIVERY, KASPI_DELIVERY, ARCHIVE."),
        verbose_name=_("state"),
    )
    status = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text=_("Kaspi status, e.g. APPROVED_BY_BANK, ACCEPTED_BY_MERCHANT, COMPLETED."),
        verbose_name=_("status"),
    )
    total_price = models.DecimalField(max_digits=14, decimal_places=2, default=0, verbose_name=_("total price"))
    payment_mode = models.CharField(max_length=32, blank=True, default="", verbose_name=_("payment mode"))
    delivery_mode = models.CharField(max_length=32, blank=True, default="", verbose_name=_("delivery mode"))
    is_kaspi_delivery = models.BooleanField(default=False, verbose_name=_("is Kaspi delivery"))
    customer_name = models.CharField(max_length=200, blank=True, default="", verbose_name=_("customer name"))
    customer_phone = models.CharField(max_length=32, blank=True, default="", verbose_name=_("customer phone"))
    creation_date = models.DateTimeField(db_index=True, verbose_name=_("creation date"))
    planned_delivery_date = models.DateTimeField(null=True, blank=True, verbose_name=_("planned delivery date"))
    accepted_at = models.DateTimeField(
        null=True, blank=True, help_text=_("When we accepted it (ACCEPTED_BY_MERCHANT)."), verbose_name=_("accepted at")
    )
    entries_synced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("entries synced at"))
    raw = models.JSONField(default=dict, blank=True, verbose_name=_("raw"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        db_table = "marketplaces_kaspiorder"  # its name from before the kaspi app (apps.py)
        ordering = ["-creation_date", "-id"]
        constraints = [models.UniqueConstraint(fields=["store", "kaspi_id"], name="uniq_kaspi_order")]
        indexes = [models.Index(fields=["store", "-creation_date"])]
        verbose_name = _("Kaspi order")
        verbose_name_plural = _("Kaspi orders")

    def __str__(self) -> str:
        return f"Kaspi order {self.code}"


class KaspiOrderEntry(models.Model):
    order = models.ForeignKey(KaspiOrder, on_delete=models.CASCADE, related_name="entries", verbose_name=_("order"))
    kaspi_id = models.CharField(max_length=64, verbose_name=_("Kaspi ID"))
    entry_number = models.IntegerField(default=0, verbose_name=_("entry number"))
    sku = models.CharField(
        max_length=200, blank=True, default="", help_text=_("offer.code: the merchant SKU."), verbose_name=_("SKU")
    )
    name = models.CharField(max_length=500, blank=True, default="", verbose_name=_("name"))
    kaspi_product_id = models.CharField(max_length=32, blank=True, default="", verbose_name=_("Kaspi product ID"))
    quantity = models.IntegerField(default=1, verbose_name=_("quantity"))
    base_price = models.DecimalField(max_digits=14, decimal_places=2, default=0, verbose_name=_("base price"))
    total_price = models.DecimalField(max_digits=14, decimal_places=2, default=0, verbose_name=_("total price"))
    delivery_cost = models.DecimalField(max_digits=14, decimal_places=2, default=0, verbose_name=_("delivery cost"))
    raw = models.JSONField(default=dict, blank=True, verbose_name=_("raw"))

    class Meta:
        db_table = "marketplaces_kaspiorderentry"  # its name from before the kaspi app (apps.py)
        ordering = ["order_id", "entry_number"]
        constraints = [models.UniqueConstraint(fields=["order", "kaspi_id"], name="uniq_kaspi_order_entry")]
        verbose_name = _("Kaspi order entry")
        verbose_name_plural = _("Kaspi order entries")

    def __str__(self) -> str:
        return f"{self.sku} × {self.quantity}"


class Preorder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        CANCELLED = "cancelled", _("Cancelled")

    store = models.ForeignKey(KaspiStore, on_delete=models.CASCADE, related_name="preorders", verbose_name=_("store"))
    product = models.ForeignKey(
        KaspiProduct,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="preorders",
        verbose_name=_("product"),
    )
    article = models.CharField(
        max_length=200, help_text=_("Merchant article (SKU) of the preordered item."), verbose_name=_("article")
    )
    name = models.CharField(max_length=500, verbose_name=_("name"))
    brand = models.CharField(max_length=200, blank=True, default="", verbose_name=_("brand"))
    price = models.PositiveIntegerField(help_text=_("Whole tenge."), verbose_name=_("price"))
    warehouses = models.JSONField(
        default=list,
        blank=True,
        help_text=_('Pickup points, e.g. [{"storeId": "123_PP1", "available": true}].'),
        verbose_name=_("warehouses"),
    )
    delivery_days = models.PositiveSmallIntegerField(default=30, verbose_name=_("delivery days"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True, verbose_name=_("status")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        db_table = "marketplaces_preorder"  # its name from before the kaspi app (apps.py)
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["store", "article"], name="uniq_kaspi_preorder_article")]
        verbose_name = _("preorder")
        verbose_name_plural = _("preorders")

    def __str__(self) -> str:
        return f"{self.article} {self.name}"
