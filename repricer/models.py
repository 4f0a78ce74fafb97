"""Repricing rules, their decision history, store switches and the proxy pool (SPEC REP-1, REP-5, REP-6)."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone

from core.fields import EncryptedTextField
from marketplaces.kaspi.models import KaspiProduct, KaspiStore

CITY_ALMATY = "750000000"


class Strategy(models.TextChoices):
    UNDERCUT = "undercut", "Undercut: cheapest competitor minus step"
    TOP_N = "top_n", "Top N: n-th cheapest competitor price minus step"
    MATCH = "match", "Match: equal to the cheapest competitor"


def _feed_token() -> str:
    return secrets.token_urlsafe(24)


class StoreRepricing(models.Model):
    """The repricer's switches for one Kaspi store (created on first use)."""

    store = models.OneToOneField(KaspiStore, on_delete=models.CASCADE, related_name="repricing")
    is_paused = models.BooleanField(default=False, help_text="No checks and no uploads while paused.")
    dry_run = models.BooleanField(default=False, help_text="Decide and record, never upload.")
    # Kaspi answered 429 to a price upload: it bans the merchant for ~30 minutes, so nothing of this
    # store is checked or uploaded before this instant (kept in the DB so every worker sees it).
    rate_limited_until = models.DateTimeField(null=True, blank=True)
    # Secret part of the XML price list URL (kaspi_catalog) that Kaspi polls; rotatable.
    feed_token = models.CharField(max_length=64, unique=True, default=_feed_token)
    last_error = models.TextField(blank=True, default="")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "store repricing"
        verbose_name_plural = "stores repricing"

    def __str__(self) -> str:
        return f"repricing of {self.store_id}"

    def is_rate_limited(self, now: object = None) -> bool:
        moment = now or timezone.now()
        return self.rate_limited_until is not None and self.rate_limited_until > moment  # type: ignore[operator]


class RepricingRule(models.Model):
    product = models.OneToOneField(KaspiProduct, on_delete=models.CASCADE, related_name="repricing_rule")
    is_active = models.BooleanField(default=True)
    min_price = models.PositiveIntegerField(help_text="Whole tenge; the floor is max(min price, 10).")
    max_price = models.PositiveIntegerField(help_text="Whole tenge; never above it.")
    step = models.PositiveIntegerField(default=1, help_text="Tenge below the competitor price.")
    strategy = models.CharField(max_length=16, choices=Strategy.choices, default=Strategy.UNDERCUT)
    top_n = models.PositiveSmallIntegerField(default=1, help_text="For top_n: which distinct competitor price.")
    ignored_merchant_ids = models.JSONField(
        default=list, blank=True, help_text="Kaspi merchant ids of linked shops to ignore (the store's own always is)."
    )
    max_delivery_days = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Ignore competitors delivering slower than this many days."
    )
    city_id = models.CharField(max_length=16, default=CITY_ALMATY)
    check_interval_seconds = models.PositiveIntegerField(default=300)
    is_priority = models.BooleanField(default=False, help_text="Checked first, at most every priority interval.")
    work_from = models.TimeField(null=True, blank=True, help_text="Working hours start (local time).")
    work_to = models.TimeField(null=True, blank=True, help_text="Working hours end (local time).")
    max_change_percent = models.DecimalField(
        max_digits=5, decimal_places=2, null=True, blank=True, help_text="Hold a change larger than this."
    )
    # The loop: due when next_check_at <= now. The scheduler pushes it forward when it claims the
    # product (a lease), the worker sets it to now + interval when done, or further back after errors.
    next_check_at = models.DateTimeField(default=timezone.now)
    # Set by the worker that is processing the product; another worker never starts it meanwhile.
    processing_until = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_competitor_best = models.PositiveIntegerField(null=True, blank=True)
    last_reason = models.CharField(max_length=32, blank=True, default="")
    last_target = models.PositiveIntegerField(null=True, blank=True)
    # Since when every check wanted a price under the floor (competitors below it); None when not.
    at_floor_since = models.DateTimeField(null=True, blank=True)
    # The price the repricer wants Kaspi to show; the XML price list serves it when uploads cannot.
    feed_price = models.PositiveIntegerField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["product_id"]
        indexes = [
            models.Index(
                fields=["-is_priority", "next_check_at"], condition=models.Q(is_active=True), name="repricer_rule_due"
            )
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(max_price__gte=models.F("min_price")), name="repricer_min_le_max"
            ),
            models.CheckConstraint(condition=models.Q(top_n__gte=1), name="repricer_top_n_positive"),
        ]

    def __str__(self) -> str:
        return f"rule for product {self.product_id}"


class Outcome(models.TextChoices):
    PENDING = "pending", "Pending upload"
    APPLIED = "applied", "Applied"
    FAILED = "failed", "Failed"
    HELD = "held", "Held"
    DRY_RUN = "dry_run", "Dry run (not uploaded)"


class PriceChange(models.Model):
    """One decision: what we saw, what we chose, what happened to it."""

    rule = models.ForeignKey(RepricingRule, on_delete=models.CASCADE, related_name="changes")
    product = models.ForeignKey(KaspiProduct, on_delete=models.CASCADE, related_name="price_changes")
    old_price = models.PositiveIntegerField(null=True, blank=True)
    competitor_best = models.PositiveIntegerField(null=True, blank=True)
    competitors = models.PositiveIntegerField(default=0, help_text="Competitor offers considered.")
    new_price = models.PositiveIntegerField(null=True, blank=True)
    reason = models.CharField(max_length=32)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.PENDING, db_index=True)
    error = models.TextField(blank=True, default="")
    upload_id = models.CharField(max_length=64, blank=True, default="", help_text="Kaspi price upload job id.")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["product", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.product_id}: {self.old_price} → {self.new_price} ({self.reason}, {self.outcome})"


class Proxy(models.Model):
    """An outgoing address for the public offers endpoint (Kaspi limits offers per IP)."""

    label = models.CharField(max_length=100)
    url = EncryptedTextField(help_text="http://user:password@host:port — kept encrypted.")
    store = models.ForeignKey(
        KaspiStore,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="proxies",
        help_text="Bound proxies serve only this store; unbound ones serve every store without its own.",
    )
    is_active = models.BooleanField(default=True)
    use_count = models.PositiveBigIntegerField(default=0)
    failure_count = models.PositiveBigIntegerField(default=0)
    consecutive_failures = models.PositiveIntegerField(default=0)
    quarantined_until = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    counters_reset_at = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        verbose_name_plural = "proxies"

    def __str__(self) -> str:
        return self.label
