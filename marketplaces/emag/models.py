"""eMAG tables (SPEC MKT-2, MKT-2b, MKT-6): accounts, orders and their lines, offers, callbacks, backups."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models

from core.fields import EncryptedTextField
from core.models import Merchant

from . import codes


def default_retention_days() -> int:
    return int(settings.EMAG_BACKUP_RETENTION_DAYS)


def new_callback_token() -> str:
    # 256 bits in the URL path: eMAG signs nothing, so the path is the callback's only credential.
    return secrets.token_urlsafe(32)


class EmagAccount(models.Model):
    class Platform(models.TextChoices):
        RO = "ro", "Romania (emag.ro)"
        BG = "bg", "Bulgaria (emag.bg)"
        HU = "hu", "Hungary (emag.hu)"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="emag_accounts")
    name = models.CharField(max_length=120)
    platform = models.CharField(max_length=2, choices=Platform.choices, default=Platform.RO)
    api_user = EncryptedTextField(help_text="eMAG Marketplace API user (stored encrypted)")
    api_password = EncryptedTextField(help_text="eMAG Marketplace API password (stored encrypted)")
    callback_token = models.CharField(max_length=64, unique=True, default=new_callback_token, editable=False)
    is_active = models.BooleanField(default=True)
    # Sweep cursor: the newest upstream `modified` seen; the next sweep re-reads an overlap before it.
    orders_modified_cursor = models.DateTimeField(null=True, blank=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")
    backup_enabled = models.BooleanField(default=True, help_text="Include in the daily backup")
    backup_retention_days = models.PositiveIntegerField(default=default_retention_days)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return f"{self.name} (eMAG {self.platform})"

    @property
    def limiter_ref(self) -> str:
        """Limits belong to the eMAG account (platform + API user), whichever rows or processes use it."""
        return hashlib.sha256(f"{self.platform}:{self.api_user}".encode()).hexdigest()[:16]


class EmagOrder(models.Model):
    class Status(models.IntegerChoices):  # codes.ORDER_STATUSES
        CANCELED = 0, "canceled"
        NEW = 1, "new"
        IN_PROGRESS = 2, "in progress"
        PREPARED = 3, "prepared"
        FINALIZED = 4, "finalized"
        RETURNED = 5, "returned"

    account = models.ForeignKey(EmagAccount, on_delete=models.CASCADE, related_name="orders")
    emag_id = models.BigIntegerField()
    status = models.IntegerField(choices=Status.choices, db_index=True)
    type = models.IntegerField(null=True, blank=True, help_text="2 FBE, 3 FBS")
    date = models.DateTimeField(null=True, blank=True, help_text="placed at (eMAG local time)")
    modified = models.DateTimeField(null=True, blank=True, db_index=True)
    payment_mode_id = models.IntegerField(null=True, blank=True)
    payment_mode = models.CharField(max_length=80, blank=True, default="")
    detailed_payment_method = models.CharField(max_length=120, blank=True, default="")
    payment_status = models.IntegerField(null=True, blank=True)
    cashed_co = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    cashed_cod = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    shipping_tax = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    shipping_tax_voucher_split = models.JSONField(default=list, blank=True)
    currency = models.CharField(max_length=8, blank=True, default="")
    customer = models.JSONField(default=dict, blank=True)
    customer_name = models.CharField(max_length=200, blank=True, default="")
    vouchers = models.JSONField(default=list, blank=True)
    cancellation_reason = models.IntegerField(null=True, blank=True, help_text="code; unknown codes kept")
    cancellation_request = models.CharField(max_length=200, blank=True, default="")
    is_storno = models.BooleanField(default=False)
    is_complete = models.BooleanField(default=False)
    delivery_mode = models.CharField(max_length=40, blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    refunded_amount = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    refund_status = models.CharField(max_length=40, blank=True, default="")
    maximum_date_for_shipment = models.DateTimeField(null=True, blank=True)
    finalization_date = models.DateTimeField(null=True, blank=True)
    late_shipment = models.IntegerField(null=True, blank=True)
    parent_id = models.BigIntegerField(null=True, blank=True)
    emag_club = models.BooleanField(default=False)
    observation = models.TextField(blank=True, default="")
    sales_channel = models.CharField(max_length=40, blank=True, default="")
    flags = models.JSONField(default=list, blank=True)
    attachments = models.JSONField(default=list, blank=True)
    raw = models.JSONField(default=dict, help_text="the order exactly as eMAG sent it")
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    synced_at = models.DateTimeField(auto_now=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "-emag_id"]
        constraints = [models.UniqueConstraint(fields=["account", "emag_id"], name="uniq_emag_order")]
        indexes = [models.Index(fields=["account", "status", "-date"])]

    def __str__(self) -> str:
        return f"eMAG order {self.emag_id}"

    @property
    def status_label(self) -> str:
        return codes.status_label(self.status)

    @property
    def payment_mode_label(self) -> str:
        return codes.payment_mode_label(self.payment_mode_id)

    @property
    def cancellation_reason_label(self) -> str:
        return codes.cancellation_reason_label(self.cancellation_reason)


class EmagOrderItem(models.Model):
    order = models.ForeignKey(EmagOrder, on_delete=models.CASCADE, related_name="items")
    line_id = models.BigIntegerField(help_text="the product line's id within the order")
    product_id = models.BigIntegerField(null=True, blank=True)
    part_number = models.CharField(max_length=120, blank=True, default="", help_text="seller SKU")
    part_number_key = models.CharField(max_length=40, blank=True, default="", help_text="eMAG product key")
    name = models.CharField(max_length=500, blank=True, default="")
    quantity = models.IntegerField(default=0)
    initial_qty = models.IntegerField(null=True, blank=True)
    storno_qty = models.IntegerField(null=True, blank=True)
    sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True, help_text="ex-VAT")
    original_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    vat = models.CharField(max_length=16, blank=True, default="")
    currency = models.CharField(max_length=8, blank=True, default="")
    status = models.IntegerField(null=True, blank=True, help_text="1 active, 0 removed")
    details = models.JSONField(default=dict, blank=True)
    raw = models.JSONField(default=dict)

    class Meta:
        ordering = ["order", "line_id"]
        constraints = [models.UniqueConstraint(fields=["order", "line_id"], name="uniq_emag_order_line")]

    def __str__(self) -> str:
        return f"{self.part_number or self.line_id} × {self.quantity}"


class EmagOffer(models.Model):
    account = models.ForeignKey(EmagAccount, on_delete=models.CASCADE, related_name="offers")
    emag_id = models.BigIntegerField(help_text="the seller's offer id (ext id)")
    part_number_key = models.CharField(max_length=40, blank=True, default="")
    part_number = models.CharField(max_length=120, blank=True, default="")
    name = models.CharField(max_length=500, blank=True, default="")
    status = models.IntegerField(null=True, blank=True)
    sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True, help_text="ex-VAT")
    recommended_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    min_sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    max_sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    currency = models.CharField(max_length=8, blank=True, default="")
    vat_id = models.IntegerField(null=True, blank=True)
    stock = models.IntegerField(null=True, blank=True)
    handling_time = models.IntegerField(null=True, blank=True)
    buy_button_rank = models.IntegerField(null=True, blank=True)
    best_offer_sale_price = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True)
    number_of_offers = models.IntegerField(null=True, blank=True)
    raw = models.JSONField(default=dict)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account", "part_number"]
        constraints = [models.UniqueConstraint(fields=["account", "emag_id"], name="uniq_emag_offer")]

    def __str__(self) -> str:
        return self.part_number or str(self.emag_id)


class EmagCallback(models.Model):
    """A new-order callback received (eMAG repeats it until the order is acknowledged)."""

    account = models.ForeignKey(EmagAccount, on_delete=models.CASCADE, related_name="callbacks")
    emag_order_id = models.BigIntegerField()
    deliveries = models.PositiveIntegerField(default=1)
    received_at = models.DateTimeField(auto_now_add=True)
    last_received_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["account", "emag_order_id"], name="uniq_emag_callback")]

    def __str__(self) -> str:
        return f"callback for order {self.emag_order_id}"


class EmagBackup(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULED = "scheduled", "Scheduled"

    account = models.ForeignKey(EmagAccount, on_delete=models.CASCADE, related_name="backups")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    file_name = models.CharField(max_length=300, unique=True)
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64)
    counts = models.JSONField(default=dict)
    created_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.file_name
