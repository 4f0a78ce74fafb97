"""Reads of the repricer (SPEC REP-6): what its owner API and admin show. Owner reads are scoped by
``core.api.tenancy.MerchantScopedMixin`` on these querysets, or by the user given here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from core.selectors import merchants_for_user
from marketplaces.kaspi.models import KaspiProduct, SessionState

from .models import PriceChange, RepricingRule, StoreRepricing

CHART_POINTS = 200


def rules_all() -> QuerySet[RepricingRule]:
    return RepricingRule.objects.select_related("product__store").order_by("product_id")


def rule_exists_for(*, product: KaspiProduct) -> bool:
    return RepricingRule.objects.filter(product=product).exists()


def products_writable(*, user: Any) -> QuerySet[KaspiProduct]:
    """Kaspi products a rule may be set on by ``user``: those of merchants they own or manage."""
    return KaspiProduct.objects.filter(store__merchant__in=merchants_for_user(user=user, write=True))


def price_changes_all() -> QuerySet[PriceChange]:
    return PriceChange.objects.order_by("-created_at", "-id")


def price_changes_of(*, rule: RepricingRule) -> QuerySet[PriceChange]:
    """A rule's decisions, newest first."""
    return price_changes_all().filter(rule=rule)


def price_history_points(
    *, rule: RepricingRule, limit: int = CHART_POINTS
) -> list[tuple[datetime, int | None, int | None, int | None, str]]:
    """The last ``limit`` decisions of a rule, oldest first: (at, old, new, best competitor, outcome)."""
    rows = price_changes_of(rule=rule).values_list("created_at", "old_price", "new_price", "competitor_best", "outcome")
    return list(rows[:limit])[::-1]


def store_switches_all() -> QuerySet[StoreRepricing]:
    return StoreRepricing.objects.select_related("store").order_by("store_id")


def store_feed_visible(*, user: Any, switches: StoreRepricing) -> bool:
    """Whether ``user`` may see the store's secret price-list URL (owners and managers)."""
    return merchants_for_user(user=user, write=True).filter(pk=switches.store.merchant_id).exists()


def stores_needing_person_q() -> Q:
    """Stores whose repricing is stuck until someone acts: a login only a person can do, a 429 ban, or a
    paused store that still has active rules."""
    return (
        Q(store__session_state=SessionState.NEEDS_RELOGIN)
        | Q(rate_limited_until__gt=timezone.now())
        | Q(is_paused=True, store__products__repricing_rule__is_active=True)
    )


def stores_needing_person(queryset: QuerySet[StoreRepricing], *, needs: bool) -> QuerySet[StoreRepricing]:
    """``queryset`` narrowed to the stores that need a person (``needs``) or to those running."""
    attention = stores_needing_person_q()
    return queryset.filter(attention) if needs else queryset.exclude(attention)
