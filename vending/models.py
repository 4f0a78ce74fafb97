"""Vendista accounts, raw transactions, terminals and daily rollups (SPEC VEN-1, VEN-2, VEN-4)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from core.fields import EncryptedTextField
from core.models import Merchant


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"Unknown time zone {value!r}; use an IANA name such as Europe/Moscow.") from exc


def default_rate() -> float:
    return settings.VENDISTA_RATE_PER_SECOND


class SyncKind(models.TextChoices):
    """``SyncRun.kind`` values written by this app."""

    TRANSACTIONS = "vending.transactions", "Vendista transactions"


class SyncMode(models.TextChoices):
    """Which window a transactions sync reads (``SyncRun.mode``)."""

    FULL = "full", "Full history"
    INCREMENTAL = "incremental", "Since the newest stored row"
    RANGE = "range", "Date range"


class VendistaAccount(models.Model):
    class Subscription(models.TextChoices):
        UNKNOWN = "unknown", "Unknown"
        ACTIVE = "active", "Active"
        UNPAID = "unpaid", "Unpaid (HTTP 402)"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="vendista_accounts")
    name = models.CharField(max_length=200)
    login = models.CharField(max_length=200, blank=True, default="")
    password = EncryptedTextField(help_text="Used to get a fresh token on 401/404.")
    token = EncryptedTextField(help_text="API token (?token=); refreshed from the login when it expires.")
    time_zone = models.CharField(
        max_length=64,
        default="Europe/Moscow",
        validators=[validate_time_zone],
        help_text="Zone of Vendista's timestamps (they carry none).",
    )
    verify_tls = models.BooleanField(default=True, help_text="Verify the provider's TLS certificate.")
    ca_bundle_path = models.CharField(
        max_length=500, blank=True, default="", help_text="Pin a CA bundle instead of turning verification off."
    )
    rate_per_second = models.FloatField(default=default_rate, help_text="Requests per second for this account.")
    is_active = models.BooleanField(default=True)
    subscription_status = models.CharField(max_length=16, choices=Subscription.choices, default=Subscription.UNKNOWN)
    last_error = models.TextField(blank=True, default="")
    last_sync_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["merchant_id", "name"]

    def __str__(self) -> str:
        return self.name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.time_zone)

    @property
    def tls_verify_value(self) -> bool | str:
        if not self.verify_tls:
            return False
        return self.ca_bundle_path or True


class Terminal(models.Model):
    account = models.ForeignKey(VendistaAccount, on_delete=models.CASCADE, related_name="terminals")
    term_id = models.BigIntegerField()
    comment = models.CharField(max_length=300, blank=True, default="")
    serial_number = models.CharField(max_length=100, blank=True, default="")
    last_online_time = models.DateTimeField(null=True, blank=True)
    last_hour_online = models.IntegerField(null=True, blank=True)
    # Explicit link to the QR-payments device sold through this terminal, set by staff (admin or
    # service ``terminal_link_device``); never guessed. Vending may import payments, never the reverse.
    device = models.ForeignKey(
        "payments.Device",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="vending_terminals",
        help_text="The payments device of the same machine (same merchant).",
    )
    raw = models.JSONField(default=dict)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["account_id", "term_id"]
        constraints = [models.UniqueConstraint(fields=["account", "term_id"], name="uniq_vending_terminal")]

    def __str__(self) -> str:
        return self.comment or f"terminal {self.term_id}"

    def clean(self) -> None:
        if self.device is not None and self.device.merchant_id != self.account.merchant_id:
            raise ValidationError({"device": "The device belongs to another merchant than the terminal's account."})


class Transaction(models.Model):
    """One Vendista transaction: the payload as received plus typed columns (VEN-2)."""

    account = models.ForeignKey(VendistaAccount, on_delete=models.CASCADE, related_name="transactions", db_index=False)
    term_id = models.BigIntegerField()
    vendista_id = models.BigIntegerField()
    time = models.DateTimeField()
    sum_minor = models.BigIntegerField(help_text="Kopecks")
    machine_item_id = models.BigIntegerField(null=True, blank=True)
    card_number = models.CharField(max_length=64, blank=True, default="")
    status = models.IntegerField(null=True, blank=True)
    result = models.IntegerField(null=True, blank=True)
    reverse_id = models.BigIntegerField(default=0)
    is_refund = models.BooleanField(default=False)
    raw = models.JSONField()
    # The time before the last update, so the rollup of the day a row moved away from is rebuilt too.
    previous_time = models.DateTimeField(null=True, blank=True, editable=False)
    synced_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-time"]
        constraints = [
            models.UniqueConstraint(fields=["account", "term_id", "vendista_id"], name="uniq_vending_transaction"),
        ]
        indexes = [models.Index(fields=["account", "time"], name="vending_tx_account_time")]

    def __str__(self) -> str:
        return f"#{self.vendista_id} @ {self.term_id}"


class DailyRollup(models.Model):
    """Per (account, terminal, local day) totals, rebuilt by the sync for the days it touched (VEN-4)."""

    account = models.ForeignKey(VendistaAccount, on_delete=models.CASCADE, related_name="rollups", db_index=False)
    term_id = models.BigIntegerField()
    day = models.DateField()
    revenue_gross = models.BigIntegerField(default=0, help_text="Kopecks, sales only")
    transactions_count = models.IntegerField(default=0)
    refunds_count = models.IntegerField(default=0)
    refunds_sum = models.BigIntegerField(default=0, help_text="Kopecks, absolute")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-day", "term_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "term_id"], name="uniq_vending_rollup"),
        ]

    def __str__(self) -> str:
        return f"{self.day} terminal {self.term_id}"

    @property
    def average_check(self) -> int:
        return round(self.revenue_gross / self.transactions_count) if self.transactions_count else 0
