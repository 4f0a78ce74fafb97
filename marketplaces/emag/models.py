"""eMAG tables (SPEC MKT-2, MKT-2b, MKT-6): accounts, orders and their lines, offers, callbacks, backups."""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from core.inbox import InboxMessage
from core.models import Merchant, SyncedAccount

from . import codes


def default_retention_days() -> int:
    return int(settings.EMAG_BACKUP_RETENTION_DAYS)


def new_callback_token() -> str:
    # 256 bits in the URL path: eMAG signs nothing, so the path is the callback's only credential.
    return secrets.token_urlsafe(32)


class EmagAccount(SyncedAccount):
    class Platform(models.TextChoices):
        RO = "ro", _("Romania (emag.ro)")
        BG = "bg", _("Bulgaria (emag.bg)")
        HU = "hu", _("Hungary (emag.hu)")

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="emag_accounts", verbose_name=_("merchant")
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    platform = models.CharField(max_length=2, choices=Platform.choices, default=Platform.RO, verbose_name=_("platform"))
    api_user = EncryptedTextField(
        help_text=_("eMAG Marketplace API user (stored encrypted)"), verbose_name=_("API user")
    )
    api_password = EncryptedTextField(
        help_text=_("eMAG Marketplace API password (stored encrypted)"), verbose_name=_("API password")
    )
    callback_token = models.CharField(
        max_length=64, unique=True, default=new_callback_token, editable=False, verbose_name=_("callback token")
    )
    # Sweep cursor: the newest upstream `modified` seen; the next sweep re-reads an overlap before it.
    orders_modified_cursor = models.DateTimeField(null=True, blank=True, verbose_name=_("orders modified cursor"))
    backup_enabled = models.BooleanField(
        default=True, help_text=_("Include in the daily backup"), verbose_name=_("backup enabled")
    )
    backup_retention_days = models.PositiveIntegerField(
        default=default_retention_days, verbose_name=_("backup retention days")
    )

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("eMAG account")
        verbose_name_plural = _("eMAG accounts")

    def __str__(self) -> str:
        return f"{self.name} (eMAG {self.platform})"

    @property
    def limiter_ref(self) -> str:
        """Limits belong to the eMAG account (platform + API user), whichever rows or processes use it."""
        return hashlib.sha256(f"{self.platform}:{self.api_user}".encode()).hexdigest()[:16]


class EmagOrder(models.Model):
    class Status(models.IntegerChoices):  # codes.ORDER_STATUSES
        CANCELED = 0, _("canceled")
        NEW = 1, _("new")
        IN_PROGRESS = 2, _("in progress")
        PREPARED = 3, _("prepared")
        FINALIZED = 4, _("finalized")
        RETURNED = 5, _("returned")

    account = models.ForeignKey(EmagAccount, on_delete=models.CASCADE, related_name="orders", verbose_name=_("account"))
    emag_id = models.BigIntegerField(verbose_name=_("eMAG ID"))
    status = models.IntegerField(choices=Status.choices, db_index=True, verbose_name=_("status"))
    type = models.IntegerField(null=True, blank=True, help_text=_("2 FBE, 3 FBS"), verbose_name=_("type"))
    date = models.DateTimeField(
        null=True, blank=True, help_text=_("placed at (eMAG local time)"), verbose_name=_("date")
    )
    modified = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("modified"))
    payment_mode_id = models.IntegerField(null=True, blank=True, verbose_name=_("payment mode ID"))
    payment_mode = models.CharField(max_length=80, blank=True, default="", verbose_name=_("payment mode"))
    detailed_payment_method = models.CharField(
        max_length=120, blank=True, default="", verbose_name=_("detailed payment method")
    )
    payment_status = models.IntegerField(null=True, blank=True, verbose_name=_("payment status"))
    cashed_co = models.DecimalField(max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("cashed CO"))
    cashed_cod = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("cashed COD")
    )
    shipping_tax = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("shipping tax")
    )
    shipping_tax_voucher_split = models.JSONField(
        default=list, blank=True, verbose_name=_("shipping tax voucher split")
    )
    currency = models.CharField(max_length=8, blank=True, default="", verbose_name=_("currency"))
    customer = models.JSONField(default=dict, blank=True, verbose_name=_("customer"))
    customer_name = models.CharField(max_length=200, blank=True, default="", verbose_name=_("customer name"))
    vouchers = models.JSONField(default=list, blank=True, verbose_name=_("vouchers"))
    cancellation_reason = models.IntegerField(
        null=True, blank=True, help_text=_("code; unknown codes kept"), verbose_name=_("cancellation reason")
    )
    cancellation_request = models.CharField(
        max_length=200, blank=True, default="", verbose_name=_("cancellation request")
    )
    is_storno = models.BooleanField(default=False, verbose_name=_("is storno"))
    is_complete = models.BooleanField(default=False, verbose_name=_("is complete"))
    delivery_mode = models.CharField(max_length=40, blank=True, default="", verbose_name=_("delivery mode"))
    details = models.JSONField(default=dict, blank=True, verbose_name=_("details"))
    refunded_amount = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("refunded amount")
    )
    refund_status = models.CharField(max_length=40, blank=True, default="", verbose_name=_("refund status"))
    maximum_date_for_shipment = models.DateTimeField(null=True, blank=True, verbose_name=_("maximum date for shipment"))
    finalization_date = models.DateTimeField(null=True, blank=True, verbose_name=_("finalization date"))
    late_shipment = models.IntegerField(null=True, blank=True, verbose_name=_("late shipment"))
    parent_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("parent ID"))
    emag_club = models.BooleanField(default=False, verbose_name=_("eMAG club"))
    observation = models.TextField(blank=True, default="", verbose_name=_("observation"))
    sales_channel = models.CharField(max_length=40, blank=True, default="", verbose_name=_("sales channel"))
    flags = models.JSONField(default=list, blank=True, verbose_name=_("flags"))
    attachments = models.JSONField(default=list, blank=True, verbose_name=_("attachments"))
    raw = models.JSONField(default=dict, help_text=_("the order exactly as eMAG sent it"), verbose_name=_("raw"))
    acknowledged_at = models.DateTimeField(null=True, blank=True, verbose_name=_("acknowledged at"))
    first_seen_at = models.DateTimeField(auto_now_add=True, verbose_name=_("first seen at"))
    synced_at = models.DateTimeField(auto_now=True, verbose_name=_("synced at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-date", "-emag_id"]
        constraints = [models.UniqueConstraint(fields=["account", "emag_id"], name="uniq_emag_order")]
        indexes = [models.Index(fields=["account", "status", "-date"])]
        verbose_name = _("eMAG order")
        verbose_name_plural = _("eMAG orders")

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
    order = models.ForeignKey(EmagOrder, on_delete=models.CASCADE, related_name="items", verbose_name=_("order"))
    line_id = models.BigIntegerField(help_text=_("the product line's id within the order"), verbose_name=_("line ID"))
    product_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("product ID"))
    part_number = models.CharField(
        max_length=120, blank=True, default="", help_text=_("seller SKU"), verbose_name=_("part number")
    )
    part_number_key = models.CharField(
        max_length=40, blank=True, default="", help_text=_("eMAG product key"), verbose_name=_("part number key")
    )
    name = models.CharField(max_length=500, blank=True, default="", verbose_name=_("name"))
    quantity = models.IntegerField(default=0, verbose_name=_("quantity"))
    initial_qty = models.IntegerField(null=True, blank=True, verbose_name=_("initial qty"))
    storno_qty = models.IntegerField(null=True, blank=True, verbose_name=_("storno qty"))
    sale_price = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, help_text=_("ex-VAT"), verbose_name=_("sale price")
    )
    original_price = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("original price")
    )
    vat = models.CharField(max_length=16, blank=True, default="", verbose_name=_("VAT"))
    currency = models.CharField(max_length=8, blank=True, default="", verbose_name=_("currency"))
    status = models.IntegerField(null=True, blank=True, help_text=_("1 active, 0 removed"), verbose_name=_("status"))
    details = models.JSONField(default=dict, blank=True, verbose_name=_("details"))
    raw = models.JSONField(default=dict, verbose_name=_("raw"))

    class Meta:
        ordering = ["order", "line_id"]
        constraints = [models.UniqueConstraint(fields=["order", "line_id"], name="uniq_emag_order_line")]
        verbose_name = _("eMAG order item")
        verbose_name_plural = _("eMAG order items")

    def __str__(self) -> str:
        return f"{self.part_number or self.line_id} × {self.quantity}"


class EmagOffer(models.Model):
    account = models.ForeignKey(EmagAccount, on_delete=models.CASCADE, related_name="offers", verbose_name=_("account"))
    emag_id = models.BigIntegerField(help_text=_("the seller's offer id (ext id)"), verbose_name=_("eMAG ID"))
    part_number_key = models.CharField(max_length=40, blank=True, default="", verbose_name=_("part number key"))
    part_number = models.CharField(max_length=120, blank=True, default="", verbose_name=_("part number"))
    name = models.CharField(max_length=500, blank=True, default="", verbose_name=_("name"))
    status = models.IntegerField(null=True, blank=True, verbose_name=_("status"))
    sale_price = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, help_text=_("ex-VAT"), verbose_name=_("sale price")
    )
    recommended_price = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("recommended price")
    )
    min_sale_price = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("min sale price")
    )
    max_sale_price = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("max sale price")
    )
    currency = models.CharField(max_length=8, blank=True, default="", verbose_name=_("currency"))
    vat_id = models.IntegerField(null=True, blank=True, verbose_name=_("VAT ID"))
    stock = models.IntegerField(null=True, blank=True, verbose_name=_("stock"))
    handling_time = models.IntegerField(null=True, blank=True, verbose_name=_("handling time"))
    buy_button_rank = models.IntegerField(null=True, blank=True, verbose_name=_("buy button rank"))
    best_offer_sale_price = models.DecimalField(
        max_digits=14, decimal_places=4, null=True, blank=True, verbose_name=_("best offer sale price")
    )
    number_of_offers = models.IntegerField(null=True, blank=True, verbose_name=_("number of offers"))
    raw = models.JSONField(default=dict, verbose_name=_("raw"))
    synced_at = models.DateTimeField(auto_now=True, verbose_name=_("synced at"))

    class Meta:
        ordering = ["account", "part_number"]
        constraints = [models.UniqueConstraint(fields=["account", "emag_id"], name="uniq_emag_offer")]
        verbose_name = _("eMAG offer")
        verbose_name_plural = _("eMAG offers")

    def __str__(self) -> str:
        return self.part_number or str(self.emag_id)


class EmagCallback(InboxMessage):
    """A new-order callback received (eMAG repeats it until the order is acknowledged): an inbox row
    (core.inbox), one per order; a repeat counts in ``deliveries``."""

    account = models.ForeignKey(
        EmagAccount, on_delete=models.CASCADE, related_name="callbacks", verbose_name=_("account")
    )
    emag_order_id = models.BigIntegerField(verbose_name=_("eMAG order ID"))
    deliveries = models.PositiveIntegerField(default=1, verbose_name=_("deliveries"))
    last_received_at = models.DateTimeField(auto_now=True, verbose_name=_("last received at"))

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["account", "emag_order_id"], name="uniq_emag_callback")]
        verbose_name = _("eMAG callback")
        verbose_name_plural = _("eMAG callbacks")

    def __str__(self) -> str:
        return f"callback for order {self.emag_order_id}"


class EmagBackup(models.Model):
    class Kind(models.TextChoices):
        MANUAL = "manual", _("Manual")
        SCHEDULED = "scheduled", _("Scheduled")

    account = models.ForeignKey(
        EmagAccount, on_delete=models.CASCADE, related_name="backups", verbose_name=_("account")
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.MANUAL, verbose_name=_("kind"))
    file_name = models.CharField(max_length=300, unique=True, verbose_name=_("file name"))
    size_bytes = models.PositiveBigIntegerField(default=0, verbose_name=_("size bytes"))
    sha256 = models.CharField(max_length=64, verbose_name=_("SHA-256"))
    counts = models.JSONField(default=dict, verbose_name=_("counts"))
    created_at = models.DateTimeField(db_index=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("eMAG backup")
        verbose_name_plural = _("eMAG backups")

    def __str__(self) -> str:
        return self.file_name
