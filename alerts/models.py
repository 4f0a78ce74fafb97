"""What needs a person (SPEC OWN-3, OWN-4): alerts, a merchant's channels and their deliveries."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from core.fields import EncryptedTextField
from core.models import Merchant


class Condition(models.TextChoices):
    SYNC_FAILING = "sync_failing", "A sync failing again and again"
    BREW_FAILING = "brew_failing", "A coffee machine not acknowledging"
    KASPI_RELOGIN = "kaspi_relogin", "A Kaspi store needs re-login"
    SETTLEMENT_STUCK = "settlement_stuck", "A settlement the sweep could not finish"
    VENDISTA_UNPAID = "vendista_unpaid", "A Vendista account unpaid (402)"
    EMAG_UNACKNOWLEDGED = "emag_unacknowledged", "New eMAG orders not acknowledged"
    POSTER_WEBHOOKS_FAILING = "poster_webhooks_failing", "Poster webhooks failing"
    POSTER_RECONNECT = "poster_reconnect", "A Poster account needs reconnecting"
    PRICE_AT_FLOOR = "price_at_floor", "Kaspi prices held at their floor"
    EMAG_HEALTH = "emag_health", "An eMAG health score under its threshold"


class AlertSettings(models.Model):
    """A merchant's thresholds (defaults apply while no row exists)."""

    merchant = models.OneToOneField(Merchant, on_delete=models.CASCADE, related_name="alert_settings")
    sync_failures = models.PositiveIntegerField(
        default=3, help_text="Failed syncs (per kind) or Poster webhooks (per account) in a row."
    )
    brew_failures = models.PositiveIntegerField(default=3, help_text="Failed brews in a row (per machine).")
    brew_silent_minutes = models.PositiveIntegerField(
        default=30, help_text="Minutes a paid brew may wait for its machine's acknowledgement."
    )
    emag_ack_minutes = models.PositiveIntegerField(
        default=30, help_text="Minutes a new eMAG order may wait for its acknowledgement."
    )
    floor_hours = models.PositiveIntegerField(
        default=6, help_text="Hours a Kaspi product may be held at its price floor (competitors below it)."
    )
    emag_health_min = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text="eMAG health score (0-100) under which an account needs a look.",
    )
    quiet_from = models.TimeField(null=True, blank=True, help_text="Quiet hours start (the merchant's time zone).")
    quiet_to = models.TimeField(null=True, blank=True, help_text="Quiet hours end; messages wait for one digest.")
    hourly_cap = models.PositiveIntegerField(default=10, help_text="Messages per channel per hour; the rest: a digest.")

    def __str__(self) -> str:
        return f"alert settings of {self.merchant}"

    def is_quiet(self, now: datetime) -> bool:
        """Whether ``now`` falls in the quiet hours (which may span midnight) in the merchant's zone."""
        if self.quiet_from is None or self.quiet_to is None or self.quiet_from == self.quiet_to:
            return False
        try:
            zone = ZoneInfo(self.merchant.time_zone)
        except (ValueError, ZoneInfoNotFoundError):
            zone = ZoneInfo(settings.TIME_ZONE)
        local = now.astimezone(zone).time()
        if self.quiet_from < self.quiet_to:
            return self.quiet_from <= local < self.quiet_to
        return local >= self.quiet_from or local < self.quiet_to


class AlertChannel(models.Model):
    class Kind(models.TextChoices):
        TELEGRAM = "telegram", "Telegram"
        EMAIL = "email", "E-mail"
        APPRISE = "apprise", "Any Apprise URL"

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="alert_channels")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    # telegram: the bot token; apprise: the whole URL (it holds the service's credentials).
    secret = EncryptedTextField(help_text="Telegram bot token, or the Apprise URL.")
    telegram_chat_id = models.CharField(max_length=64, blank=True, default="")
    email_to = models.EmailField(blank=True, default="")
    is_active = models.BooleanField(default=True)
    is_failing = models.BooleanField(default=False, help_text="The last delivery attempt failed.")
    last_error = models.CharField(max_length=500, blank=True, default="")
    last_sent_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["merchant_id", "name", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Alert(models.Model):
    """One condition of one subject: opened once, closed once (a partial unique index)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="alerts")
    condition = models.CharField(max_length=32, choices=Condition.choices)
    subject = models.CharField(max_length=200, help_text="what it is about, e.g. 'vending.transactions' or 'device 5'")
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True, default="")
    link = models.CharField(max_length=300, blank=True, default="", help_text="admin path of the object")
    opened_at = models.DateTimeField(auto_now_add=True, db_index=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "condition", "subject"],
                condition=Q(closed_at__isnull=True),
                name="uniq_open_alert",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Delivery(models.Model):
    class Event(models.TextChoices):
        OPENED = "opened", "Opened"
        CLOSED = "closed", "Closed"
        DIGEST = "digest", "Digest"
        TEST = "test", "Test message"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        HELD = "held", "Held for the digest (hourly cap)"
        DIGESTED = "digested", "Sent in a digest"
        FAILED = "failed", "Failed (gave up)"

    channel = models.ForeignKey(AlertChannel, on_delete=models.CASCADE, related_name="deliveries")
    alert = models.ForeignKey(Alert, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries")
    event = models.CharField(max_length=8, choices=Event.choices)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True)
    title = models.CharField(max_length=300)
    body = models.TextField(blank=True, default="")
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(db_index=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"

    def __str__(self) -> str:
        return f"{self.event} → {self.channel} ({self.status})"
