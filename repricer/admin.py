"""Admin for the repricer (SPEC REP-6): rules with their history and a chart of our price against the best
competitor, the stores that need a person, and the proxy pool. Actions call the services."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin_actions import admin_run_each
from core.admin_forms import SecretsKeptForm, ServiceCheckedForm, ServiceSavedAdmin
from core.admin_readonly import ReadOnlyAdmin, ReadOnlyInline
from marketplaces.kaspi.models import SessionState

from . import selectors
from .models import PriceChange, Proxy, RepricingRule, StoreRepricing
from .services import operations


def price_chart(rule: RepricingRule) -> SafeString:
    """An inline SVG: our price (blue) and the best competitor price (orange) over the recorded decisions."""
    rows = selectors.price_history_points(rule=rule)
    ours = [(t, new if outcome == "applied" and new else old) for t, old, new, _, outcome in rows]
    best = [(t, b) for t, _, _, b, _ in rows if b]
    values = [v for _, v in ours + best if v]
    if len(rows) < 2 or not values:
        return format_html("<p>{}</p>", gettext("Not enough history for a chart yet."))
    width, height, pad = 640, 220, 30
    t0, t1 = rows[0][0].timestamp(), rows[-1][0].timestamp()
    low, high = min(values), max(values)
    span_t, span_v = max(t1 - t0, 1.0), max(high - low, 1)

    def points(series: list[Any]) -> str:
        return " ".join(
            f"{pad + (t.timestamp() - t0) / span_t * (width - 2 * pad):.1f},"
            f"{height - pad - (v - low) / span_v * (height - 2 * pad):.1f}"
            for t, v in series
            if v
        )

    return format_html(
        '<svg width="{w}" height="{h}" role="img" aria-label="{label}">'
        '<rect width="100%" height="100%" fill="#fff" stroke="#ccc"/>'
        '<polyline fill="none" stroke="#2563eb" stroke-width="2" points="{ours}"/>'
        '<polyline fill="none" stroke="#ea580c" stroke-width="2" stroke-dasharray="4 3" points="{best}"/>'
        '<text x="4" y="14" font-size="11">{high} ₸</text><text x="4" y="{bottom}" font-size="11">{low} ₸</text>'
        '<text x="{legend}" y="14" font-size="11" fill="#2563eb">{ours_label}</text>'
        '<text x="{legend}" y="28" font-size="11" fill="#ea580c">{best_label}</text></svg>',
        w=width, h=height, ours=points(ours), best=points(best), high=high, low=low, bottom=height - 6,
        legend=width - 110, label=gettext("Our price and best competitor price"), ours_label=gettext("ours"),
        best_label=gettext("best competitor"),
    )  # fmt: skip


class PriceChangeInline(ReadOnlyInline):
    model = PriceChange
    ordering = ["-created_at", "-id"]
    fields = ["created_at", "old_price", "competitor_best", "new_price", "reason", "outcome", "error"]
    readonly_fields = ["created_at", "old_price", "competitor_best", "new_price", "reason", "outcome", "error"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[PriceChange]:
        return super().get_queryset(request).order_by("-created_at", "-id")


class RepricingRuleForm(ServiceCheckedForm):
    class Meta:
        model = RepricingRule
        fields = "__all__"

    def check(self, instance: RepricingRule) -> None:
        operations.rule_check(rule=instance)


@admin.register(RepricingRule)
class RepricingRuleAdmin(ServiceSavedAdmin):
    form = RepricingRuleForm
    kept_on_change = ("product",)
    list_display = [
        "product", "store", "is_active", "strategy", "min_price", "max_price", "own_price", "last_competitor_best",
        "last_reason", "next_check_at", "consecutive_failures",
    ]  # fmt: skip
    list_filter = ["is_active", "strategy", "is_priority", "last_reason", "product__store"]
    search_fields = ["product__sku", "product__name", "product__kaspi_product_id"]
    list_select_related = ["product__store"]
    raw_id_fields = ["product"]
    readonly_fields = [
        "chart", "next_check_at", "processing_until", "last_checked_at", "last_competitor_best", "last_reason",
        "last_target", "at_floor_since", "feed_price", "consecutive_failures", "last_error",
    ]  # fmt: skip
    inlines = [PriceChangeInline]
    actions = ["reprice_now", "dry_run_now"]

    @admin.display(description=_("store"))
    def store(self, rule: RepricingRule) -> str:
        return str(rule.product.store)

    def service_save(self, *, stored: RepricingRule | None, data: dict[str, Any]) -> RepricingRule:
        product = data.pop("product", None)
        if stored is None:
            return operations.rule_create(product=product, **data)
        return operations.rule_update(rule=stored, **data)

    @admin.display(description=_("our price"))
    def own_price(self, rule: RepricingRule) -> int | None:
        return rule.product.price

    @admin.display(description=_("our price vs best competitor"))
    def chart(self, rule: RepricingRule) -> SafeString:
        return price_chart(rule) if rule.pk else mark_safe("")

    @admin.action(description=_("Reprice now"))
    def reprice_now(self, request: HttpRequest, queryset: QuerySet[RepricingRule]) -> None:
        count = operations.reprice_now(rule_ids=list(queryset.values_list("pk", flat=True)))
        self.message_user(
            request, gettext("%(count)d products queued on the repricer queue.") % {"count": count}, messages.SUCCESS
        )

    @admin.action(description=_("Dry run now (decide and record, never upload)"))
    def dry_run_now(self, request: HttpRequest, queryset: QuerySet[RepricingRule]) -> None:
        count = operations.reprice_now(rule_ids=list(queryset.values_list("pk", flat=True)), dry_run=True)
        self.message_user(
            request, gettext("%(count)d products queued for a dry run.") % {"count": count}, messages.SUCCESS
        )


@admin.register(PriceChange)
class PriceChangeAdmin(ReadOnlyAdmin):
    deletable = True
    list_display = ["created_at", "product", "old_price", "competitor_best", "new_price", "reason", "outcome"]
    list_filter = ["outcome", "reason"]
    search_fields = ["product__sku"]
    date_hierarchy = "created_at"
    list_select_related = ["product"]


class NeedsPersonFilter(admin.SimpleListFilter):
    title = _("needs a person")
    parameter_name = "needs_person"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", gettext("Needs a person")), ("no", gettext("Running"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[StoreRepricing]) -> QuerySet[StoreRepricing]:
        if self.value() in ("yes", "no"):
            return selectors.stores_needing_person(queryset, needs=self.value() == "yes")
        return queryset


@admin.register(StoreRepricing)
class StoreRepricingAdmin(admin.ModelAdmin):
    list_display = ["store", "attention", "is_paused", "dry_run", "rate_limited_until", "last_error"]
    list_filter = [NeedsPersonFilter, "is_paused", "dry_run"]
    readonly_fields = ["store", "rate_limited_until", "last_error", "feed_token"]
    fields = ["store", "is_paused", "dry_run", "rate_limited_until", "last_error", "feed_token"]
    actions = ["pause", "resume", "reprice_store_now", "clear_rate_limit", "rotate_feed"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[StoreRepricing]:
        return super().get_queryset(request).select_related("store").distinct()

    @admin.display(description=_("needs a person because"))
    def attention(self, switches: StoreRepricing) -> str:
        reasons = []
        if switches.store.session_state == SessionState.NEEDS_RELOGIN:
            reasons.append(
                gettext("cabinet login: %(reason)s")
                % {"reason": switches.store.session_reason or gettext("log in again")}
            )
        if switches.is_rate_limited():
            until = timezone.localtime(switches.rate_limited_until)
            reasons.append(gettext("Kaspi 429 ban until %(time)s") % {"time": f"{until:%H:%M}"})
        if switches.is_paused:
            reasons.append(gettext("paused"))
        return "; ".join(reasons) or "—"

    def save_model(self, request: HttpRequest, obj: StoreRepricing, form: Any, change: bool) -> None:
        operations.store_switches_update(store=obj.store, is_paused=obj.is_paused, dry_run=obj.dry_run)

    @admin.action(description=_("Pause repricing"))
    def pause(self, request: HttpRequest, queryset: QuerySet[StoreRepricing]) -> None:
        admin_run_each(
            self, request, queryset,
            lambda switches: operations.store_switches_update(store=switches.store, is_paused=True),
            done=gettext("Repricing paused for %(count)d store(s)."),
        )  # fmt: skip

    @admin.action(description=_("Resume repricing"))
    def resume(self, request: HttpRequest, queryset: QuerySet[StoreRepricing]) -> None:
        admin_run_each(
            self, request, queryset,
            lambda switches: operations.store_switches_update(store=switches.store, is_paused=False),
            done=gettext("Repricing resumed for %(count)d store(s)."),
        )  # fmt: skip

    @admin.action(description=_("Reprice every product of the store now"))
    def reprice_store_now(self, request: HttpRequest, queryset: QuerySet[StoreRepricing]) -> None:
        total = sum(operations.reprice_store_now(store=s.store) for s in queryset)
        self.message_user(request, gettext("%(count)d products queued.") % {"count": total}, messages.SUCCESS)

    @admin.action(description=_("Clear the 429 pause (the ban is over)"))
    def clear_rate_limit(self, request: HttpRequest, queryset: QuerySet[StoreRepricing]) -> None:
        admin_run_each(
            self, request, queryset, lambda switches: operations.store_rate_limit_clear(store=switches.store),
            done=gettext("The 429 pause cleared for %(count)d store(s)."),
        )  # fmt: skip

    @admin.action(description=_("Rotate the secret price-list URL"))
    def rotate_feed(self, request: HttpRequest, queryset: QuerySet[StoreRepricing]) -> None:
        for switches in queryset:
            operations.feed_token_rotate(store=switches.store)
        self.message_user(request, gettext("New price-list URLs: give them to Kaspi."), messages.WARNING)


class ProxyForm(SecretsKeptForm):
    class Meta:
        model = Proxy
        fields = ["label", "url", "store", "is_active"]


@admin.register(Proxy)
class ProxyAdmin(admin.ModelAdmin):
    form = ProxyForm
    list_display = ["label", "store", "is_active", "use_count", "failure_count", "quarantined_until", "last_error"]
    list_filter = ["is_active", "store"]
    readonly_fields = ["use_count", "failure_count", "consecutive_failures", "quarantined_until", "last_error",
                       "counters_reset_at"]  # fmt: skip
    actions = ["release"]

    @admin.action(description=_("Release from quarantine"))
    def release(self, request: HttpRequest, queryset: QuerySet[Proxy]) -> None:
        queryset.update(quarantined_until=None, consecutive_failures=0)
