"""Vendista accounts, raw transactions, terminals and daily rollups (SPEC VEN-1, VEN-2, VEN-4)."""

from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from core.models import Merchant, SyncedAccount


def validate_time_zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(
            gettext("Unknown time zone %(zone)r; use an IANA name such as Europe/Moscow.") % {"zone": value}
        ) from exc


def default_rate() -> float:
    return settings.VENDISTA_RATE_PER_SECOND


class SyncKind(models.TextChoices):
    """``SyncRun.kind`` values written by this app."""

    TRANSACTIONS = "vending.transactions", _("Vendista transactions")


class SyncMode(models.TextChoices):
    """Which window a transactions sync reads (``SyncRun.mode``)."""

    FULL = "full", _("Full history")
    INCREMENTAL = "incremental", _("Since the newest stored row")
    RANGE = "range", _("Date range")


class VendistaAccount(SyncedAccount):
    class Subscription(models.TextChoices):
        UNKNOWN = "unknown", _("Unknown")
        ACTIVE = "active", _("Active")
        UNPAID = "unpaid", _("Unpaid (HTTP 402)")

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="vendista_accounts", verbose_name=_("merchant")
    )
    name = models.CharField(max_length=200, verbose_name=_("name"))
    login = models.CharField(max_length=200, blank=True, default="", verbose_name=_("login"))
    password = EncryptedTextField(help_text=_("Used to get a fresh token on 401/404."), verbose_name=_("password"))
    token = EncryptedTextField(
        help_text=_("API token (?token=); refreshed from the login when it expires."), verbose_name=_("token")
    )
    time_zone = models.CharField(
        max_length=64,
        default="Europe/Moscow",
        validators=[validate_time_zone],
        help_text=_("Zone of Vendista's timestamps (they carry none)."),
        verbose_name=_("time zone"),
    )
    verify_tls = models.BooleanField(
        default=True, help_text=_("Verify the provider's TLS certificate."), verbose_name=_("verify TLS")
    )
    ca_bundle_path = models.CharField(
        max_length=500,
        blank=True,
        default="",
        help_text=_("Pin a CA bundle instead of turning verification off."),
        verbose_name=_("CA bundle path"),
    )
    rate_per_second = models.FloatField(
        default=default_rate, help_text=_("Requests per second for this account."), verbose_name=_("rate per second")
    )
    subscription_status = models.CharField(
        max_length=16, choices=Subscription.choices, default=Subscription.UNKNOWN, verbose_name=_("subscription status")
    )

    class Meta:
        ordering = ["merchant_id", "name"]
        verbose_name = _("Vendista account")
        verbose_name_plural = _("Vendista accounts")

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
    account = models.ForeignKey(
        VendistaAccount, on_delete=models.CASCADE, related_name="terminals", verbose_name=_("account")
    )
    term_id = models.BigIntegerField(verbose_name=_("term ID"))
    comment = models.CharField(max_length=300, blank=True, default="", verbose_name=_("comment"))
    serial_number = models.CharField(max_length=100, blank=True, default="", verbose_name=_("serial number"))
    last_online_time = models.DateTimeField(null=True, blank=True, verbose_name=_("last online time"))
    last_hour_online = models.IntegerField(null=True, blank=True, verbose_name=_("last hour online"))
    # Explicit link to the QR-payments device sold through this terminal, set by staff (admin or
    # service ``terminal_link_device``); never guessed. Vending may import payments, never the reverse.
    device = models.ForeignKey(
        "payments.Device",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="vending_terminals",
        help_text=_("The payments device of the same machine (same merchant)."),
        verbose_name=_("device"),
    )
    raw = models.JSONField(default=dict, verbose_name=_("raw"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["account_id", "term_id"]
        constraints = [models.UniqueConstraint(fields=["account", "term_id"], name="uniq_vending_terminal")]
        verbose_name = _("terminal")
        verbose_name_plural = _("terminals")

    def __str__(self) -> str:
        return self.comment or f"terminal {self.term_id}"

    def clean(self) -> None:
        if self.device is not None and self.device.merchant_id != self.account.merchant_id:
            raise ValidationError(
                {"device": gettext("The device belongs to another merchant than the terminal's account.")}
            )


class Transaction(models.Model):
    """One Vendista transaction: the payload as received plus typed columns (VEN-2)."""

    account = models.ForeignKey(
        VendistaAccount,
        on_delete=models.CASCADE,
        related_name="transactions",
        db_index=False,
        verbose_name=_("account"),
    )
    term_id = models.BigIntegerField(verbose_name=_("term ID"))
    vendista_id = models.BigIntegerField(verbose_name=_("Vendista ID"))
    time = models.DateTimeField(verbose_name=_("time"))
    sum_minor = models.BigIntegerField(help_text=_("Kopecks"), verbose_name=_("sum minor"))
    machine_item_id = models.BigIntegerField(null=True, blank=True, verbose_name=_("machine item ID"))
    card_number = models.CharField(max_length=64, blank=True, default="", verbose_name=_("card number"))
    status = models.IntegerField(null=True, blank=True, verbose_name=_("status"))
    result = models.IntegerField(null=True, blank=True, verbose_name=_("result"))
    reverse_id = models.BigIntegerField(default=0, verbose_name=_("reverse ID"))
    is_refund = models.BooleanField(default=False, verbose_name=_("is refund"))
    raw = models.JSONField(verbose_name=_("raw"))
    # The time before the last update, so the rollup of the day a row moved away from is rebuilt too.
    previous_time = models.DateTimeField(null=True, blank=True, editable=False, verbose_name=_("previous time"))
    synced_at = models.DateTimeField(auto_now=True, verbose_name=_("synced at"))

    class Meta:
        ordering = ["-time"]
        constraints = [
            models.UniqueConstraint(fields=["account", "term_id", "vendista_id"], name="uniq_vending_transaction"),
        ]
        indexes = [models.Index(fields=["account", "time"], name="vending_tx_account_time")]
        verbose_name = _("transaction")
        verbose_name_plural = _("transactions")

    def __str__(self) -> str:
        return f"#{self.vendista_id} @ {self.term_id}"


class DailyRollup(models.Model):
    """Per (account, terminal, local day) totals, rebuilt by the sync for the days it touched (VEN-4)."""

    account = models.ForeignKey(
        VendistaAccount, on_delete=models.CASCADE, related_name="rollups", db_index=False, verbose_name=_("account")
    )
    term_id = models.BigIntegerField(verbose_name=_("term ID"))
    day = models.DateField(verbose_name=_("day"))
    revenue_gross = models.BigIntegerField(
        default=0, help_text=_("Kopecks, sales only"), verbose_name=_("revenue gross")
    )
    transactions_count = models.IntegerField(default=0, verbose_name=_("transactions count"))
    refunds_count = models.IntegerField(default=0, verbose_name=_("refunds count"))
    refunds_sum = models.BigIntegerField(default=0, help_text=_("Kopecks, absolute"), verbose_name=_("refunds sum"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-day", "term_id"]
        constraints = [
            models.UniqueConstraint(fields=["account", "day", "term_id"], name="uniq_vending_rollup"),
        ]
        verbose_name = _("daily rollup")
        verbose_name_plural = _("daily rollups")

    def __str__(self) -> str:
        return f"{self.day} terminal {self.term_id}"

    @property
    def average_check(self) -> int:
        return round(self.revenue_gross / self.transactions_count) if self.transactions_count else 0
