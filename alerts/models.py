"""What needs a person (SPEC OWN-3, OWN-4): alerts, a merchant's channels and their deliveries."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from core.models import Merchant


class Condition(models.TextChoices):
    SYNC_FAILING = "sync_failing", _("A sync failing again and again")
    BREW_FAILING = "brew_failing", _("A coffee machine not acknowledging")
    KASPI_RELOGIN = "kaspi_relogin", _("A Kaspi store needs re-login")
    SETTLEMENT_STUCK = "settlement_stuck", _("A settlement the sweep could not finish")
    VENDISTA_UNPAID = "vendista_unpaid", _("A Vendista account unpaid (402)")
    EMAG_UNACKNOWLEDGED = "emag_unacknowledged", _("New eMAG orders not acknowledged")
    POSTER_WEBHOOKS_FAILING = "poster_webhooks_failing", _("Poster webhooks failing")
    POSTER_RECONNECT = "poster_reconnect", _("A Poster account needs reconnecting")
    PRICE_AT_FLOOR = "price_at_floor", _("Kaspi prices held at their floor")
    EMAG_HEALTH = "emag_health", _("An eMAG health score under its threshold")


class AlertSettings(models.Model):
    """A merchant's thresholds (defaults apply while no row exists)."""

    merchant = models.OneToOneField(
        Merchant, on_delete=models.CASCADE, related_name="alert_settings", verbose_name=_("merchant")
    )
    sync_failures = models.PositiveIntegerField(
        default=3,
        help_text=_("Failed syncs (per kind) or Poster webhooks (per account) in a row."),
        verbose_name=_("sync failures"),
    )
    brew_failures = models.PositiveIntegerField(
        default=3, help_text=_("Failed brews in a row (per machine)."), verbose_name=_("brew failures")
    )
    brew_silent_minutes = models.PositiveIntegerField(
        default=30,
        help_text=_("Minutes a paid brew may wait for its machine's acknowledgement."),
        verbose_name=_("brew silent minutes"),
    )
    emag_ack_minutes = models.PositiveIntegerField(
        default=30,
        help_text=_("Minutes a new eMAG order may wait for its acknowledgement."),
        verbose_name=_("eMAG ack minutes"),
    )
    floor_hours = models.PositiveIntegerField(
        default=6,
        help_text=_("Hours a Kaspi product may be held at its price floor (competitors below it)."),
        verbose_name=_("hours at the floor"),
    )
    emag_health_min = models.PositiveIntegerField(
        default=50,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
        help_text=_("eMAG health score (0-100) under which an account needs a look."),
        verbose_name=_("lowest eMAG health score"),
    )
    quiet_from = models.TimeField(
        null=True,
        blank=True,
        help_text=_("Quiet hours start (the merchant's time zone)."),
        verbose_name=_("quiet from"),
    )
    quiet_to = models.TimeField(
        null=True, blank=True, help_text=_("Quiet hours end; messages wait for one digest."), verbose_name=_("quiet to")
    )
    hourly_cap = models.PositiveIntegerField(
        default=10, help_text=_("Messages per channel per hour; the rest: a digest."), verbose_name=_("hourly cap")
    )

    class Meta:
        verbose_name = _("alert settings")
        verbose_name_plural = _("alert settings")

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
        TELEGRAM = "telegram", _("Telegram")
        EMAIL = "email", _("E-mail")
        APPRISE = "apprise", _("Any Apprise URL")

    merchant = models.ForeignKey(
        Merchant, on_delete=models.CASCADE, related_name="alert_channels", verbose_name=_("merchant")
    )
    name = models.CharField(max_length=120, verbose_name=_("name"))
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    # telegram: the bot token; apprise: the whole URL (it holds the service's credentials).
    secret = EncryptedTextField(help_text=_("Telegram bot token, or the Apprise URL."), verbose_name=_("secret"))
    telegram_chat_id = models.CharField(max_length=64, blank=True, default="", verbose_name=_("telegram chat ID"))
    email_to = models.EmailField(blank=True, default="", verbose_name=_("email to"))
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    is_failing = models.BooleanField(
        default=False, help_text=_("The last delivery attempt failed."), verbose_name=_("is failing")
    )
    last_error = models.CharField(max_length=500, blank=True, default="", verbose_name=_("last error"))
    last_sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last sent at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["merchant_id", "name", "id"]
        verbose_name = _("alert channel")
        verbose_name_plural = _("alert channels")

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class Alert(models.Model):
    """One condition of one subject: opened once, closed once (a partial unique index)."""

    merchant = models.ForeignKey(Merchant, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("merchant"))
    condition = models.CharField(max_length=32, choices=Condition.choices, verbose_name=_("condition"))
    subject = models.CharField(
        max_length=200,
        help_text=_("what it is about, e.g. 'vending.transactions' or 'device 5'"),
        verbose_name=_("subject"),
    )
    title = models.CharField(max_length=300, verbose_name=_("title"))
    detail = models.TextField(blank=True, default="", verbose_name=_("detail"))
    link = models.CharField(
        max_length=300, blank=True, default="", help_text=_("admin path of the object"), verbose_name=_("link")
    )
    opened_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("opened at"))
    closed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("closed at"))

    class Meta:
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "condition", "subject"],
                condition=Q(closed_at__isnull=True),
                name="uniq_open_alert",
            )
        ]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.closed_at is None


class Delivery(models.Model):
    class Event(models.TextChoices):
        OPENED = "opened", _("Opened")
        CLOSED = "closed", _("Closed")
        DIGEST = "digest", _("Digest")
        TEST = "test", _("Test message")

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SENT = "sent", _("Sent")
        HELD = "held", _("Held for the digest (hourly cap)")
        DIGESTED = "digested", _("Sent in a digest")
        FAILED = "failed", _("Failed (gave up)")

    channel = models.ForeignKey(
        AlertChannel, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("channel")
    )
    alert = models.ForeignKey(
        Alert, on_delete=models.CASCADE, null=True, blank=True, related_name="deliveries", verbose_name=_("alert")
    )
    event = models.CharField(max_length=8, choices=Event.choices, verbose_name=_("event"))
    status = models.CharField(
        max_length=8, choices=Status.choices, default=Status.PENDING, db_index=True, verbose_name=_("status")
    )
    title = models.CharField(max_length=300, verbose_name=_("title"))
    body = models.TextField(blank=True, default="", verbose_name=_("body"))
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    next_attempt_at = models.DateTimeField(db_index=True, verbose_name=_("next attempt at"))
    last_error = models.CharField(max_length=500, blank=True, default="", verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    sent_at = models.DateTimeField(null=True, blank=True, verbose_name=_("sent at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")

    def __str__(self) -> str:
        return f"{self.event} → {self.channel} ({self.status})"
