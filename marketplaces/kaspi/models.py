"""Kaspi stores, their cabinet session, offers (products), Shop API orders and preorders (SPEC MKT-1)."""

from __future__ import annotations

from django.db import models

from core.fields import EncryptedTextField
from core.models import Merchant


class SessionState(models.TextChoices):
    # ok: cookies that answered the last probe. expired: no usable cookies; the next job that needs the
    # cabinet logs in by itself. needs_relogin: a login failed in a way only a person can fix (wrong
    # password, SMS code, a page we do not recognise, no browser): nothing logs in until someone asks.
    OK = "ok", "OK"
    EXPIRED = "expired", "Expired"
    NEEDS_RELOGIN = "needs_relogin", "Needs re-login"


class KaspiStore(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="kaspi_stores")
    name = models.CharField(max_length=200)
    merchant_uid = models.CharField(
        max_length=64,
        blank=True,
        default="",
        help_text="Kaspi merchant id (filled from the cabinet after a login when blank).",
    )
    shop_api_token = EncryptedTextField(help_text="Shop API token (X-Auth-Token) for orders.")
    cabinet_email = EncryptedTextField(help_text="Merchant cabinet login e-mail.")
    cabinet_password = EncryptedTextField(help_text="Merchant cabinet password.")
    session_cookies = EncryptedTextField(help_text="Cabinet session cookies (JSON), kept from the last login.")
    session_state = models.CharField(
        max_length=16, choices=SessionState.choices, default=SessionState.EXPIRED, db_index=True
    )
    session_reason = models.CharField(max_length=500, blank=True, default="")
    session_screenshot = models.FileField(
        upload_to="kaspi/screenshots/",
        blank=True,
        default="",
        help_text="What the browser saw when the last login failed.",
    )
    # Bumped by every successful login: a worker that waited for another's login compares it to see
    # that a fresh session exists and reuses it instead of logging in again.
    session_generation = models.PositiveIntegerField(default=0)
    session_logged_in_at = models.DateTimeField(null=True, blank=True)
    session_checked_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    products_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    last_products_sync_at = models.DateTimeField(null=True, blank=True)
    last_orders_sync_at = models.DateTimeField(null=True, blank=True)
    # Orders are complete up to this instant (the next incremental sync starts a little before it).
    orders_synced_until = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["merchant_id", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant_uid"], condition=~models.Q(merchant_uid=""), name="uniq_kaspi_store_merchant_uid"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def last_sync_at(self) -> object:
        times = [t for t in (self.last_products_sync_at, self.last_orders_sync_at) if t]
        return max(times) if times else None


class KaspiProduct(models.Model):
    """One offer of the store's cabinet offer list; removed offers stay, marked inactive."""

    store = models.ForeignKey(KaspiStore, on_delete=models.CASCADE, related_name="products")
    sku = models.CharField(max_length=200, help_text="The merchant's own SKU.")
    kaspi_product_id = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_index=True,
        help_text="Kaspi product card id (the number at the end of shopLink).",
    )
    name = models.CharField(max_length=500, blank=True, default="")
    brand = models.CharField(max_length=200, blank=True, default="")
    category = models.CharField(max_length=200, blank=True, default="")
    image_url = models.URLField(max_length=1000, blank=True, default="")
    shop_link = models.URLField(max_length=1000, blank=True, default="")
    price = models.PositiveIntegerField(null=True, blank=True, help_text="Whole tenge (minPrice).")
    availabilities = models.JSONField(default=list, blank=True)
    city_prices = models.JSONField(default=list, blank=True)
    is_available = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True, help_text="Off when the offer left the cabinet list.")
    raw = models.JSONField(default=dict, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["store_id", "sku"]
        constraints = [models.UniqueConstraint(fields=["store", "sku"], name="uniq_kaspi_product_sku")]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}".strip()


class KaspiOrder(models.Model):
    store = models.ForeignKey(KaspiStore, on_delete=models.CASCADE, related_name="orders")
    kaspi_id = models.CharField(max_length=64, help_text="Shop API order id.")
    code = models.CharField(max_length=64, db_index=True, help_text="Order number shown to the buyer.")
    state = models.CharField(
        max_length=32,
        blank=True,
        default="",
        db_index=True,
        help_text="Kaspi state: NEW, SIGN_REQUIRED, PICKUP, DELIVERY, KASPI_DELIVERY, ARCHIVE.",
    )
    status = models.CharField(
        max_length=64,
        blank=True,
        default="",
        db_index=True,
        help_text="Kaspi status, e.g. APPROVED_BY_BANK, ACCEPTED_BY_MERCHANT, COMPLETED.",
    )
    total_price = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    payment_mode = models.CharField(max_length=32, blank=True, default="")
    delivery_mode = models.CharField(max_length=32, blank=True, default="")
    is_kaspi_delivery = models.BooleanField(default=False)
    customer_name = models.CharField(max_length=200, blank=True, default="")
    customer_phone = models.CharField(max_length=32, blank=True, default="")
    creation_date = models.DateTimeField(db_index=True)
    planned_delivery_date = models.DateTimeField(null=True, blank=True)
    accepted_at = models.DateTimeField(null=True, blank=True, help_text="When we accepted it (ACCEPTED_BY_MERCHANT).")
    entries_synced_at = models.DateTimeField(null=True, blank=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-creation_date", "-id"]
        constraints = [models.UniqueConstraint(fields=["store", "kaspi_id"], name="uniq_kaspi_order")]
        indexes = [models.Index(fields=["store", "-creation_date"])]

    def __str__(self) -> str:
        return f"Kaspi order {self.code}"


class KaspiOrderEntry(models.Model):
    order = models.ForeignKey(KaspiOrder, on_delete=models.CASCADE, related_name="entries")
    kaspi_id = models.CharField(max_length=64)
    entry_number = models.IntegerField(default=0)
    sku = models.CharField(max_length=200, blank=True, default="", help_text="offer.code: the merchant SKU.")
    name = models.CharField(max_length=500, blank=True, default="")
    kaspi_product_id = models.CharField(max_length=32, blank=True, default="")
    quantity = models.IntegerField(default=1)
    base_price = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    total_price = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    delivery_cost = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    raw = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["order_id", "entry_number"]
        constraints = [models.UniqueConstraint(fields=["order", "kaspi_id"], name="uniq_kaspi_order_entry")]

    def __str__(self) -> str:
        return f"{self.sku} × {self.quantity}"


class Preorder(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        COMPLETED = "completed", "Completed"
        CANCELLED = "cancelled", "Cancelled"

    store = models.ForeignKey(KaspiStore, on_delete=models.CASCADE, related_name="preorders")
    product = models.ForeignKey(
        KaspiProduct, on_delete=models.SET_NULL, null=True, blank=True, related_name="preorders"
    )
    article = models.CharField(max_length=200, help_text="Merchant article (SKU) of the preordered item.")
    name = models.CharField(max_length=500)
    brand = models.CharField(max_length=200, blank=True, default="")
    price = models.PositiveIntegerField(help_text="Whole tenge.")
    warehouses = models.JSONField(
        default=list, blank=True, help_text='Pickup points, e.g. [{"storeId": "123_PP1", "available": true}].'
    )
    delivery_days = models.PositiveSmallIntegerField(default=30)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["store", "article"], name="uniq_kaspi_preorder_article")]

    def __str__(self) -> str:
        return f"{self.article} {self.name}"
