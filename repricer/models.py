"""Repricing rules, their decision history, store switches and the proxy pool (SPEC REP-1, REP-5, REP-6)."""

from __future__ import annotations

import secrets

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.fields import EncryptedTextField
from marketplaces.kaspi.models import KaspiProduct, KaspiStore

CITY_ALMATY = "750000000"


class Strategy(models.TextChoices):
    UNDERCUT = "undercut", _("Undercut: cheapest competitor minus step")
    TOP_N = "top_n", _("Top N: n-th cheapest competitor price minus step")
    MATCH = "match", _("Match: equal to the cheapest competitor")


def _feed_token() -> str:
    return secrets.token_urlsafe(24)


class StoreRepricing(models.Model):
    """The repricer's switches for one Kaspi store (created on first use)."""

    store = models.OneToOneField(
        KaspiStore, on_delete=models.CASCADE, related_name="repricing", verbose_name=_("store")
    )
    is_paused = models.BooleanField(
        default=False, help_text=_("No checks and no uploads while paused."), verbose_name=_("is paused")
    )
    dry_run = models.BooleanField(
        default=False, help_text=_("Decide and record, never upload."), verbose_name=_("dry run")
    )
    # Kaspi answered 429 to a price upload: it bans the merchant for ~30 minutes, so nothing of this
    # store is checked or uploaded before this instant (kept in the DB so every worker sees it).
    rate_limited_until = models.DateTimeField(null=True, blank=True, verbose_name=_("rate limited until"))
    # Secret part of the XML price list URL (kaspi_catalog) that Kaspi polls; rotatable.
    feed_token = models.CharField(max_length=64, unique=True, default=_feed_token, verbose_name=_("feed token"))
    last_error = models.TextField(blank=True, default="", verbose_name=_("last error"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("store repricing")
        verbose_name_plural = _("stores repricing")

    def __str__(self) -> str:
        return f"repricing of {self.store_id}"

    def is_rate_limited(self, now: object = None) -> bool:
        moment = now or timezone.now()
        return self.rate_limited_until is not None and self.rate_limited_until > moment  # type: ignore[operator]


class RepricingRule(models.Model):
    product = models.OneToOneField(
        KaspiProduct, on_delete=models.CASCADE, related_name="repricing_rule", verbose_name=_("product")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    min_price = models.PositiveIntegerField(
        help_text=_("Whole tenge; the floor is max(min price, 10)."), verbose_name=_("min price")
    )
    max_price = models.PositiveIntegerField(help_text=_("Whole tenge; never above it."), verbose_name=_("max price"))
    step = models.PositiveIntegerField(
        default=1, help_text=_("Tenge below the competitor price."), verbose_name=_("step")
    )
    strategy = models.CharField(
        max_length=16, choices=Strategy.choices, default=Strategy.UNDERCUT, verbose_name=_("strategy")
    )
    top_n = models.PositiveSmallIntegerField(
        default=1, help_text=_("For top_n: which distinct competitor price."), verbose_name=_("top N")
    )
    ignored_merchant_ids = models.JSONField(
        default=list,
        blank=True,
        help_text=_("Kaspi merchant ids of linked shops to ignore (the store's own always is)."),
        verbose_name=_("ignored merchant IDs"),
    )
    max_delivery_days = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        help_text=_("Ignore competitors delivering slower than this many days."),
        verbose_name=_("max delivery days"),
    )
    city_id = models.CharField(max_length=16, default=CITY_ALMATY, verbose_name=_("city ID"))
    check_interval_seconds = models.PositiveIntegerField(default=300, verbose_name=_("check interval seconds"))
    is_priority = models.BooleanField(
        default=False, help_text=_("Checked first, at most every priority interval."), verbose_name=_("is priority")
    )
    work_from = models.TimeField(
        null=True, blank=True, help_text=_("Working hours start (local time)."), verbose_name=_("work from")
    )
    work_to = models.TimeField(
        null=True, blank=True, help_text=_("Working hours end (local time)."), verbose_name=_("work to")
    )
    max_change_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        null=True,
        blank=True,
        help_text=_("Hold a change larger than this."),
        verbose_name=_("max change percent"),
    )
    # The loop: due when next_check_at <= now. The scheduler pushes it forward when it claims the
    # product (a lease), the worker sets it to now + interval when done, or further back after errors.
    next_check_at = models.DateTimeField(default=timezone.now, verbose_name=_("next check at"))
    # Set by the worker that is processing the product; another worker never starts it meanwhile.
    processing_until = models.DateTimeField(null=True, blank=True, verbose_name=_("processing until"))
    last_checked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("last checked at"))
    last_competitor_best = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("last competitor best"))
    last_reason = models.CharField(max_length=32, blank=True, default="", verbose_name=_("last reason"))
    last_target = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("last target"))
    # Since when every check wanted a price under the floor (competitors below it); None when not.
    at_floor_since = models.DateTimeField(null=True, blank=True, verbose_name=_("at the floor since"))
    # The price the repricer wants Kaspi to show; the XML price list serves it when uploads cannot.
    feed_price = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("feed price"))
    consecutive_failures = models.PositiveIntegerField(default=0, verbose_name=_("consecutive failures"))
    last_error = models.TextField(blank=True, default="", verbose_name=_("last error"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

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
        verbose_name = _("repricing rule")
        verbose_name_plural = _("repricing rules")

    def __str__(self) -> str:
        return f"rule for product {self.product_id}"


class Outcome(models.TextChoices):
    PENDING = "pending", _("Pending upload")
    APPLIED = "applied", _("Applied")
    FAILED = "failed", _("Failed")
    HELD = "held", _("Held")
    DRY_RUN = "dry_run", _("Dry run (not uploaded)")


class PriceChange(models.Model):
    """One decision: what we saw, what we chose, what happened to it."""

    rule = models.ForeignKey(RepricingRule, on_delete=models.CASCADE, related_name="changes", verbose_name=_("rule"))
    product = models.ForeignKey(
        KaspiProduct, on_delete=models.CASCADE, related_name="price_changes", verbose_name=_("product")
    )
    old_price = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("old price"))
    competitor_best = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("competitor best"))
    competitors = models.PositiveIntegerField(
        default=0, help_text=_("Competitor offers considered."), verbose_name=_("competitors")
    )
    new_price = models.PositiveIntegerField(null=True, blank=True, verbose_name=_("new price"))
    reason = models.CharField(max_length=32, verbose_name=_("reason"))
    outcome = models.CharField(
        max_length=16, choices=Outcome.choices, default=Outcome.PENDING, db_index=True, verbose_name=_("outcome")
    )
    error = models.TextField(blank=True, default="", verbose_name=_("error"))
    upload_id = models.CharField(
        max_length=64, blank=True, default="", help_text=_("Kaspi price upload job id."), verbose_name=_("upload ID")
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["product", "-created_at"])]
        verbose_name = _("price change")
        verbose_name_plural = _("price changes")

    def __str__(self) -> str:
        return f"{self.product_id}: {self.old_price} → {self.new_price} ({self.reason}, {self.outcome})"


class Proxy(models.Model):
    """An outgoing address for the public offers endpoint (Kaspi limits offers per IP)."""

    label = models.CharField(max_length=100, verbose_name=_("label"))
    url = EncryptedTextField(help_text=_("http://user:password@host:port — kept encrypted."), verbose_name=_("URL"))
    store = models.ForeignKey(
        KaspiStore,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="proxies",
        help_text=_("Bound proxies serve only this store; unbound ones serve every store without its own."),
        verbose_name=_("store"),
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    use_count = models.PositiveBigIntegerField(default=0, verbose_name=_("use count"))
    failure_count = models.PositiveBigIntegerField(default=0, verbose_name=_("failure count"))
    consecutive_failures = models.PositiveIntegerField(default=0, verbose_name=_("consecutive failures"))
    quarantined_until = models.DateTimeField(null=True, blank=True, verbose_name=_("quarantined until"))
    last_error = models.CharField(max_length=500, blank=True, default="", verbose_name=_("last error"))
    counters_reset_at = models.DateTimeField(default=timezone.now, verbose_name=_("counters reset at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        ordering = ["id"]
        verbose_name = _("proxy")
        verbose_name_plural = _("proxies")

    def __str__(self) -> str:
        return self.label
