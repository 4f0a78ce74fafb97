"""QR coffee payments: devices, drinks, orders and the money/brew side effects (SPEC PAY-1, PAY-2).

Side effects hang off rows that can exist only once: one ``Payment`` per order, one
``BrewCommand`` per order, one ``Refund`` per payment, one ``WebhookDelivery`` per provider event.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Coalesce, NullIf
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from core.inbox import InboxMessage
from core.models import Merchant


class Provider(models.TextChoices):
    YOOKASSA = "yookassa", _("YooKassa")
    TBANK = "tbank", _("T-Bank")


class PaymentAccount(models.Model):
    """A merchant's own provider credentials (encrypted, PLAT-5) and fiscal setting."""

    merchant = models.OneToOneField(
        Merchant, on_delete=models.CASCADE, related_name="payment_account", verbose_name=_("merchant")
    )
    yookassa_shop_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("YooKassa shop ID"))
    yookassa_secret_key = EncryptedTextField(verbose_name=_("YooKassa secret key"))
    tbank_terminal_key = models.CharField(max_length=64, blank=True, default="", verbose_name=_("T-Bank terminal key"))
    tbank_password = EncryptedTextField(verbose_name=_("T-Bank password"))
    issues_receipts = models.BooleanField(
        default=False, help_text=_("54-FZ receipts are sent with payments"), verbose_name=_("issues receipts")
    )
    two_stage = models.BooleanField(
        default=True, help_text=_("Hold the money and capture only after the brew"), verbose_name=_("two stage")
    )

    class Meta:
        verbose_name = _("payment account")
        verbose_name_plural = _("payment accounts")

    def __str__(self) -> str:
        return f"payment account of {self.merchant}"


class TmetrAccount(models.Model):
    """A merchant's login at Tmetr, the telemetry platform of its coffee machines (PAY-6).

    Tmetr takes Keycloak bearer tokens that last hours. The access token is refreshed before it
    expires and after a 401 (with the refresh token, else with the username and password); staff
    may also paste a token by hand. Read from the database on every call, so a change applies
    without a restart. Secrets are encrypted (PLAT-5).
    """

    merchant = models.OneToOneField(
        Merchant, on_delete=models.CASCADE, related_name="tmetr_account", verbose_name=_("merchant")
    )
    username = models.CharField(max_length=150, blank=True, default="", verbose_name=_("username"))
    password = EncryptedTextField(verbose_name=_("password"))
    access_token = EncryptedTextField(
        help_text=_("current bearer token; paste one here to use it right away"), verbose_name=_("access token")
    )
    access_expires_at = models.DateTimeField(
        null=True, blank=True, help_text=_("empty: unknown (a pasted token)"), verbose_name=_("access expires at")
    )
    refresh_token = EncryptedTextField(verbose_name=_("refresh token"))
    refresh_expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("refresh expires at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("Tmetr account")
        verbose_name_plural = _("Tmetr accounts")

    def __str__(self) -> str:
        return f"Tmetr login of {self.merchant_id}"


class Device(models.Model):
    class Channel(models.TextChoices):
        TMETR = "tmetr", _("Tmetr HTTP")
        MQTT = "mqtt", _("MQTT")

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="devices", verbose_name=_("merchant"))
    code = models.SlugField(
        max_length=64, unique=True, help_text=_("printed in the device's QR code"), verbose_name=_("code")
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    location = models.CharField(max_length=300, blank=True, default="", verbose_name=_("location"))
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.TMETR, verbose_name=_("channel"))
    external_id = models.CharField(
        max_length=100, blank=True, default="", help_text=_("Tmetr/MQTT device id"), verbose_name=_("external ID")
    )
    provider = models.CharField(
        max_length=16, choices=Provider.choices, default=Provider.YOOKASSA, verbose_name=_("provider")
    )
    ack_timeout_seconds = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("ack timeout seconds"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["name"]
        indexes = [models.Index(fields=["merchant", "external_id"])]
        constraints = [
            # The address a machine is reached by (MQTT topic, the legacy QR's deviceUuid) is its
            # external id, else its code: one machine per address across the platform (PLAT-15).
            # An external id equal to another device's code is refused by the service
            # (payments.services.catalog.device_address_check), which names the field.
            models.UniqueConstraint(
                Coalesce(NullIf("external_id", models.Value("")), "code", output_field=models.CharField()),
                name="payments_device_address_unique",
                violation_error_message=_("Another device already has this address (external id or code)."),
            ),
        ]
        verbose_name = _("device")
        verbose_name_plural = _("devices")

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def address(self) -> str:
        """The id in its MQTT topics and in the legacy QR (deviceUuid)."""
        return self.external_id or self.code


class Size(models.TextChoices):
    SMALL = "small", "Маленький"
    MEDIUM = "medium", "Средний"
    BIG = "big", "Большой"


class Drink(models.Model):
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="drinks", verbose_name=_("merchant"))
    device = models.ForeignKey(
        Device,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="drinks",
        help_text=_("empty = on the menu of every device of the merchant"),
        verbose_name=_("device"),
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    external_id = models.CharField(
        max_length=64, blank=True, default="", help_text=_("drink number at the device"), verbose_name=_("external ID")
    )
    price_small = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("kopecks"), verbose_name=_("price small")
    )
    price_medium = models.PositiveIntegerField(
        null=True, blank=True, help_text=_("kopecks"), verbose_name=_("price medium")
    )
    price_big = models.PositiveIntegerField(null=True, blank=True, help_text=_("kopecks"), verbose_name=_("price big"))
    vat_code = models.PositiveSmallIntegerField(default=1, verbose_name=_("VAT code"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))

    class Meta:
        ordering = ["name"]
        verbose_name = _("drink")
        verbose_name_plural = _("drinks")

    def __str__(self) -> str:
        return self.name

    def price(self, size: str) -> int | None:
        return getattr(self, f"price_{size}", None)

    def sizes(self) -> list[tuple[str, str, int]]:
        return [(s.value, s.label, p) for s in Size if (p := self.price(s.value))]


class OrderStatus(models.TextChoices):
    CREATED = "created", _("Created")
    PENDING = "pending", _("Payment created")
    PAID = "paid", _("Paid")
    NOT_PAID = "not_paid", _("Not paid")
    MAKE_PENDING = "make_pending", _("Brew command sent")
    SUCCESSFUL = "successful", _("Successful")
    FAILED = "failed", _("Failed")


class Order(models.Model):
    Status = OrderStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False, verbose_name=_("ID"))
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="orders", verbose_name=_("merchant"))
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="orders", verbose_name=_("device"))
    drink = models.ForeignKey(
        Drink, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders", verbose_name=_("drink")
    )
    drink_name = models.CharField(max_length=200, verbose_name=_("drink name"))
    drink_external_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("drink external ID"))
    size = models.CharField(max_length=8, choices=Size.choices, verbose_name=_("size"))
    amount = models.PositiveIntegerField(help_text=_("kopecks"), verbose_name=_("amount"))
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.CREATED, db_index=True, verbose_name=_("status")
    )
    # The order id a machine in the field put in its dynamic QR (legacy /v1/pay); a rescan reuses it.
    machine_order_id = models.CharField(max_length=100, null=True, blank=True, verbose_name=_("machine order ID"))
    email = models.EmailField(blank=True, default="", verbose_name=_("email"))
    phone = models.CharField(max_length=20, blank=True, default="", verbose_name=_("phone"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    expires_at = models.DateTimeField(db_index=True, verbose_name=_("expires at"))

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["device", "machine_order_id"], name="uniq_machine_order"),
        ]
        indexes = [models.Index(fields=["merchant", "status", "-created_at"])]
        verbose_name = _("order")
        verbose_name_plural = _("orders")

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderEvent(models.Model):
    """The order's timeline: every transition and side effect, appended, never edited."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events", verbose_name=_("order"))
    kind = models.CharField(max_length=32, verbose_name=_("kind"))  # transition / payment / brew / refund / capture
    from_status = models.CharField(max_length=16, blank=True, default="", verbose_name=_("from status"))
    to_status = models.CharField(max_length=16, blank=True, default="", verbose_name=_("to status"))
    note = models.TextField(blank=True, default="", verbose_name=_("note"))
    at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("at"))

    class Meta:
        ordering = ["at", "id"]
        verbose_name = _("order event")
        verbose_name_plural = _("order events")

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}->{self.to_status}"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        WAITING_FOR_CAPTURE = "waiting_for_capture", _("Held (waiting for capture)")
        SUCCEEDED = "succeeded", _("Succeeded")
        CANCELED = "canceled", _("Canceled")

    class Settlement(models.TextChoices):
        """What happens to the buyer's money after the order's fate is known (refund state)."""

        NONE = "none", _("Not settled")
        CAPTURING = "capturing", _("Capturing")
        CAPTURED = "captured", _("Captured / kept")
        RETURNING = "returning", _("Returning (cancel or refund in progress)")
        RETURNED = "returned", _("Returned to the buyer")
        RETURN_FAILED = "return_failed", _("Return failed (needs attention)")
        CAPTURE_FAILED = "capture_failed", _("Capture failed: the hold was canceled (needs attention)")

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="payment", verbose_name=_("order"))
    provider = models.CharField(max_length=16, choices=Provider.choices, verbose_name=_("provider"))
    provider_payment_id = models.CharField(max_length=64, null=True, blank=True, verbose_name=_("provider payment ID"))
    amount = models.PositiveIntegerField(help_text=_("kopecks"), verbose_name=_("amount"))
    status = models.CharField(
        max_length=24, choices=Status.choices, default=Status.PENDING, db_index=True, verbose_name=_("status")
    )
    two_stage = models.BooleanField(default=True, verbose_name=_("two stage"))
    confirmation_url = models.URLField(max_length=1000, blank=True, default="", verbose_name=_("confirmation URL"))
    settlement = models.CharField(
        max_length=16, choices=Settlement.choices, default=Settlement.NONE, db_index=True, verbose_name=_("settlement")
    )
    raw = models.JSONField(default=dict, blank=True, verbose_name=_("raw"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_payment_id"], name="uniq_provider_payment"),
        ]
        verbose_name = _("payment")
        verbose_name_plural = _("payments")

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_payment_id} ({self.status})"

    @property
    def holds_money(self) -> bool:
        return self.status in (self.Status.WAITING_FOR_CAPTURE, self.Status.SUCCEEDED)


class Refund(models.Model):
    """Money going back: a cancelled hold or a refund. One per payment, ever (PAY-8)."""

    class Kind(models.TextChoices):
        CANCEL = "cancel", _("Hold cancelled")
        REFUND = "refund", _("Refund")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")

    payment = models.OneToOneField(Payment, on_delete=models.CASCADE, related_name="refund", verbose_name=_("payment"))
    kind = models.CharField(max_length=8, choices=Kind.choices, verbose_name=_("kind"))
    amount = models.PositiveIntegerField(verbose_name=_("amount"))
    reason = models.CharField(max_length=200, verbose_name=_("reason"))
    status = models.CharField(
        max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True, verbose_name=_("status")
    )
    provider_refund_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("provider refund ID"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))

    class Meta:
        verbose_name = _("refund")
        verbose_name_plural = _("refunds")

    def __str__(self) -> str:
        return f"{self.kind} of {self.payment_id} ({self.status})"


class BrewCommand(models.Model):
    """The one brew command of an order; ``command_id`` is what the device de-duplicates on."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Queued")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent, waiting for the device")
        DONE = "done", _("Done")
        FAILED = "failed", _("Failed")

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="brew", verbose_name=_("order"))
    command_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False, verbose_name=_("command ID"))
    channel = models.CharField(max_length=8, choices=Device.Channel.choices, verbose_name=_("channel"))
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True, verbose_name=_("status")
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))
    published_at = models.DateTimeField(
        null=True, blank=True, help_text=_("the broker / Tmetr accepted the command"), verbose_name=_("published at")
    )
    accepted_at = models.DateTimeField(null=True, blank=True, verbose_name=_("accepted at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    deadline = models.DateTimeField(null=True, blank=True, db_index=True, verbose_name=_("deadline"))

    class Meta:
        verbose_name = _("brew command")
        verbose_name_plural = _("brew commands")

    def __str__(self) -> str:
        return f"brew {self.command_id} ({self.status})"


class Receipt(models.Model):
    """54-FZ receipt data sent with the payment when the merchant issues receipts."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent with the payment")

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="receipt", verbose_name=_("order"))
    email = models.EmailField(blank=True, default="", verbose_name=_("email"))
    phone = models.CharField(max_length=20, blank=True, default="", verbose_name=_("phone"))
    items = models.JSONField(default=list, verbose_name=_("items"))
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, verbose_name=_("status"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("receipt")
        verbose_name_plural = _("receipts")

    def __str__(self) -> str:
        return f"receipt of {self.order_id}"


class WebhookDelivery(InboxMessage):
    """Every authentic notification, stored once per provider event (duplicates hit the constraint):
    an inbox row (core.inbox) whose status says whether it was applied (processed) or changed nothing
    (ignored); ``last_error`` holds the outcome, or the error of a failed attempt."""

    provider = models.CharField(max_length=16, choices=Provider.choices, verbose_name=_("provider"))
    event_key = models.CharField(max_length=200, verbose_name=_("event key"))
    event = models.CharField(max_length=64, verbose_name=_("event"))
    payment = models.ForeignKey(
        Payment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        help_text=_("the payment the delivery was verified against"),
        verbose_name=_("payment"),
    )
    provider_payment_id = models.CharField(max_length=64, db_index=True, verbose_name=_("provider payment ID"))
    verified_status = models.CharField(max_length=32, blank=True, default="", verbose_name=_("verified status"))
    remote_addr = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("remote addr"))

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["provider", "event_key"], name="uniq_webhook_event")]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self) -> str:
        return f"{self.provider} {self.event_key}"
