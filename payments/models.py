"""QR coffee payments: devices, drinks, orders and the money/brew side effects (SPEC PAY-1, PAY-2).

Side effects hang off rows that can exist only once: one ``Payment`` per order, one
``BrewCommand`` per order, one ``Refund`` per payment, one ``WebhookDelivery`` per provider event.
"""

from __future__ import annotations

import uuid

from django.db import models
from django.db.models.functions import Coalesce, NullIf

from core.fields import EncryptedTextField
from core.models import Merchant


class Provider(models.TextChoices):
    YOOKASSA = "yookassa", "YooKassa"
    TBANK = "tbank", "T-Bank"


class PaymentAccount(models.Model):
    """A merchant's own provider credentials (encrypted, PLAT-5) and fiscal setting."""

    merchant = models.OneToOneField(Merchant, on_delete=models.CASCADE, related_name="payment_account")
    yookassa_shop_id = models.CharField(max_length=64, blank=True, default="")
    yookassa_secret_key = EncryptedTextField()
    tbank_terminal_key = models.CharField(max_length=64, blank=True, default="")
    tbank_password = EncryptedTextField()
    issues_receipts = models.BooleanField(default=False, help_text="54-FZ receipts are sent with payments")
    two_stage = models.BooleanField(default=True, help_text="Hold the money and capture only after the brew")

    def __str__(self) -> str:
        return f"payment account of {self.merchant}"


class TmetrAccount(models.Model):
    """A merchant's login at Tmetr, the telemetry platform of its coffee machines (PAY-6).

    Tmetr takes Keycloak bearer tokens that last hours. The access token is refreshed before it
    expires and after a 401 (with the refresh token, else with the username and password); staff
    may also paste a token by hand. Read from the database on every call, so a change applies
    without a restart. Secrets are encrypted (PLAT-5).
    """

    merchant = models.OneToOneField(Merchant, on_delete=models.CASCADE, related_name="tmetr_account")
    username = models.CharField(max_length=150, blank=True, default="")
    password = EncryptedTextField()
    access_token = EncryptedTextField(help_text="current bearer token; paste one here to use it right away")
    access_expires_at = models.DateTimeField(null=True, blank=True, help_text="empty: unknown (a pasted token)")
    refresh_token = EncryptedTextField()
    refresh_expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Tmetr login of {self.merchant_id}"


class Device(models.Model):
    class Channel(models.TextChoices):
        TMETR = "tmetr", "Tmetr HTTP"
        MQTT = "mqtt", "MQTT"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="devices")
    code = models.SlugField(max_length=64, unique=True, help_text="printed in the device's QR code")
    name = models.CharField(max_length=200)
    location = models.CharField(max_length=300, blank=True, default="")
    channel = models.CharField(max_length=8, choices=Channel.choices, default=Channel.TMETR)
    external_id = models.CharField(max_length=100, blank=True, default="", help_text="Tmetr/MQTT device id")
    provider = models.CharField(max_length=16, choices=Provider.choices, default=Provider.YOOKASSA)
    ack_timeout_seconds = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

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
                violation_error_message="Another device already has this address (external id or code).",
            ),
        ]

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
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="drinks")
    device = models.ForeignKey(
        Device,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="drinks",
        help_text="empty = on the menu of every device of the merchant",
    )
    name = models.CharField(max_length=200)
    external_id = models.CharField(max_length=64, blank=True, default="", help_text="drink number at the device")
    price_small = models.PositiveIntegerField(null=True, blank=True, help_text="kopecks")
    price_medium = models.PositiveIntegerField(null=True, blank=True, help_text="kopecks")
    price_big = models.PositiveIntegerField(null=True, blank=True, help_text="kopecks")
    vat_code = models.PositiveSmallIntegerField(default=1)
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def price(self, size: str) -> int | None:
        return getattr(self, f"price_{size}", None)

    def sizes(self) -> list[tuple[str, str, int]]:
        return [(s.value, s.label, p) for s in Size if (p := self.price(s.value))]


class OrderStatus(models.TextChoices):
    CREATED = "created", "Created"
    PENDING = "pending", "Payment created"
    PAID = "paid", "Paid"
    NOT_PAID = "not_paid", "Not paid"
    MAKE_PENDING = "make_pending", "Brew command sent"
    SUCCESSFUL = "successful", "Successful"
    FAILED = "failed", "Failed"


class Order(models.Model):
    Status = OrderStatus

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="orders")
    device = models.ForeignKey(Device, on_delete=models.PROTECT, related_name="orders")
    drink = models.ForeignKey(Drink, on_delete=models.SET_NULL, null=True, blank=True, related_name="orders")
    drink_name = models.CharField(max_length=200)
    drink_external_id = models.CharField(max_length=64, blank=True, default="")
    size = models.CharField(max_length=8, choices=Size.choices)
    amount = models.PositiveIntegerField(help_text="kopecks")
    status = models.CharField(max_length=16, choices=OrderStatus.choices, default=OrderStatus.CREATED, db_index=True)
    # The order id a machine in the field put in its dynamic QR (legacy /v1/pay); a rescan reuses it.
    machine_order_id = models.CharField(max_length=100, null=True, blank=True)
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=20, blank=True, default="")
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["device", "machine_order_id"], name="uniq_machine_order"),
        ]
        indexes = [models.Index(fields=["merchant", "status", "-created_at"])]

    def __str__(self) -> str:
        return f"order {self.id} ({self.status})"


class OrderEvent(models.Model):
    """The order's timeline: every transition and side effect, appended, never edited."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="events")
    kind = models.CharField(max_length=32)  # transition / payment / brew / refund / capture
    from_status = models.CharField(max_length=16, blank=True, default="")
    to_status = models.CharField(max_length=16, blank=True, default="")
    note = models.TextField(blank=True, default="")
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.from_status}->{self.to_status}"


class Payment(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        WAITING_FOR_CAPTURE = "waiting_for_capture", "Held (waiting for capture)"
        SUCCEEDED = "succeeded", "Succeeded"
        CANCELED = "canceled", "Canceled"

    class Settlement(models.TextChoices):
        """What happens to the buyer's money after the order's fate is known (refund state)."""

        NONE = "none", "Not settled"
        CAPTURING = "capturing", "Capturing"
        CAPTURED = "captured", "Captured / kept"
        RETURNING = "returning", "Returning (cancel or refund in progress)"
        RETURNED = "returned", "Returned to the buyer"
        RETURN_FAILED = "return_failed", "Return failed (needs attention)"
        CAPTURE_FAILED = "capture_failed", "Capture failed: the hold was canceled (needs attention)"

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="payment")
    provider = models.CharField(max_length=16, choices=Provider.choices)
    provider_payment_id = models.CharField(max_length=64, null=True, blank=True)
    amount = models.PositiveIntegerField(help_text="kopecks")
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING, db_index=True)
    two_stage = models.BooleanField(default=True)
    confirmation_url = models.URLField(max_length=1000, blank=True, default="")
    settlement = models.CharField(max_length=16, choices=Settlement.choices, default=Settlement.NONE, db_index=True)
    raw = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "provider_payment_id"], name="uniq_provider_payment"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.provider_payment_id} ({self.status})"

    @property
    def holds_money(self) -> bool:
        return self.status in (self.Status.WAITING_FOR_CAPTURE, self.Status.SUCCEEDED)


class Refund(models.Model):
    """Money going back: a cancelled hold or a refund. One per payment, ever (PAY-8)."""

    class Kind(models.TextChoices):
        CANCEL = "cancel", "Hold cancelled"
        REFUND = "refund", "Refund"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    payment = models.OneToOneField(Payment, on_delete=models.CASCADE, related_name="refund")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    amount = models.PositiveIntegerField()
    reason = models.CharField(max_length=200)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING, db_index=True)
    provider_refund_id = models.CharField(max_length=64, blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} of {self.payment_id} ({self.status})"


class BrewCommand(models.Model):
    """The one brew command of an order; ``command_id`` is what the device de-duplicates on."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent, waiting for the device"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="brew")
    command_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    channel = models.CharField(max_length=8, choices=Device.Channel.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED, db_index=True)
    attempts = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    published_at = models.DateTimeField(null=True, blank=True, help_text="the broker / Tmetr accepted the command")
    accepted_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    deadline = models.DateTimeField(null=True, blank=True, db_index=True)

    def __str__(self) -> str:
        return f"brew {self.command_id} ({self.status})"


class Receipt(models.Model):
    """54-FZ receipt data sent with the payment when the merchant issues receipts."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent with the payment"

    order = models.OneToOneField(Order, on_delete=models.CASCADE, related_name="receipt")
    email = models.EmailField(blank=True, default="")
    phone = models.CharField(max_length=20, blank=True, default="")
    items = models.JSONField(default=list)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"receipt of {self.order_id}"


class WebhookDelivery(models.Model):
    """Every authentic notification, stored once per provider event (duplicates hit the constraint)."""

    class Outcome(models.TextChoices):
        RECEIVED = "received", "Received"
        APPLIED = "applied", "Applied"
        IGNORED = "ignored", "Ignored (no change)"

    provider = models.CharField(max_length=16, choices=Provider.choices)
    event_key = models.CharField(max_length=200)
    event = models.CharField(max_length=64)
    payment = models.ForeignKey(
        Payment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="deliveries",
        help_text="the payment the delivery was verified against",
    )
    provider_payment_id = models.CharField(max_length=64, db_index=True)
    verified_status = models.CharField(max_length=32, blank=True, default="")
    payload = models.JSONField(default=dict)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RECEIVED)
    note = models.TextField(blank=True, default="")
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [models.UniqueConstraint(fields=["provider", "event_key"], name="uniq_webhook_event")]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.provider} {self.event_key}"
