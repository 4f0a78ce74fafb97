"""What owners and staff do with the repricer (SPEC REP-6): rules, reprice now, dry run, pause, feed URL."""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from marketplaces.kaspi.models import KaspiProduct, KaspiStore

from ..models import RepricingRule, StoreRepricing
from .limits import store_settings
from .loop import batches, rules_claim_due

RULE_FIELDS = frozenset(
    {
        "is_active", "min_price", "max_price", "step", "strategy", "top_n", "ignored_merchant_ids",
        "max_delivery_days", "city_id", "check_interval_seconds", "is_priority", "work_from", "work_to",
        "max_change_percent",
    }
)  # fmt: skip


def _enqueue(ids: list[int], *, dry_run: bool = False, force: bool = False) -> None:
    from ..tasks import reprice_batch

    for chunk in batches(ids):
        reprice_batch.apply_async(args=(chunk,), kwargs={"dry_run": dry_run, "force": force}, queue="repricer")


def reprice_due() -> int:
    ids = rules_claim_due()
    _enqueue(ids)
    return len(ids)


def _check_plan_limit(*, store: KaspiStore, exclude_rule: int | None = None) -> None:
    limit = settings.REPRICER_PLAN_PRODUCT_LIMIT
    if not limit:
        return
    active = RepricingRule.objects.filter(product__store__merchant_id=store.merchant_id, is_active=True)
    if exclude_rule is not None:
        active = active.exclude(pk=exclude_rule)
    if active.count() >= limit:
        raise ValidationError(
            {
                "is_active": gettext("your plan allows %(limit)s repriced products; pause another first")
                % {"limit": limit}
            }
        )


def _validate(rule: RepricingRule) -> None:
    if rule.min_price > rule.max_price:
        raise ValidationError({"max_price": gettext("must be at least the min price")})
    if rule.max_price < 10:
        raise ValidationError({"max_price": gettext("Kaspi prices are at least 10 tenge")})
    if rule.strategy == "top_n" and rule.top_n < 1:
        raise ValidationError({"top_n": gettext("must be 1 or more")})


def rule_check(*, rule: RepricingRule) -> None:
    """The rules of a rule as it would be saved (the admin form runs them before saving): the plan
    limit when it becomes active, the price floor and range."""
    if rule.is_active and not RepricingRule.objects.filter(pk=rule.pk, is_active=True).exists():
        _check_plan_limit(store=rule.product.store, exclude_rule=rule.pk)
    _validate(rule)


@transaction.atomic
def rule_create(*, product: KaspiProduct, **fields: Any) -> RepricingRule:
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise ValidationError({name: gettext("unknown field") for name in unknown})
    rule = RepricingRule(product=product, **fields)
    rule_check(rule=rule)
    rule.full_clean(exclude=["product"])
    rule.save()
    store_settings(product.store)
    return rule


@transaction.atomic
def rule_update(*, rule: RepricingRule, **fields: Any) -> RepricingRule:
    unknown = set(fields) - RULE_FIELDS
    if unknown:
        raise ValidationError({name: gettext("unknown field") for name in unknown})
    rule = RepricingRule.objects.select_for_update().select_related("product__store").get(pk=rule.pk)
    for name, value in fields.items():
        setattr(rule, name, value)
    rule_check(rule=rule)
    rule.full_clean(exclude=["product"])
    # A changed rule is checked again soon rather than at the old schedule.
    rule.next_check_at = min(rule.next_check_at, timezone.now())
    rule.save()
    return rule


def reprice_now(*, rule_ids: list[int], dry_run: bool = False) -> int:
    """Queue these products now (working hours ignored); a dry run decides and records, never uploads."""
    ids = list(RepricingRule.objects.filter(pk__in=rule_ids, is_active=True).values_list("pk", flat=True))
    transaction.on_commit(lambda: _enqueue(ids, dry_run=dry_run, force=True))
    return len(ids)


def reprice_store_now(*, store: KaspiStore, dry_run: bool = False) -> int:
    ids = list(RepricingRule.objects.filter(product__store=store, is_active=True).values_list("pk", flat=True))
    return reprice_now(rule_ids=ids, dry_run=dry_run)


def store_switches_update(
    *, store: KaspiStore, is_paused: bool | None = None, dry_run: bool | None = None
) -> StoreRepricing:
    switches = store_settings(store)
    changes: dict[str, Any] = {}
    if is_paused is not None:
        changes["is_paused"] = is_paused
    if dry_run is not None:
        changes["dry_run"] = dry_run
    if changes:
        StoreRepricing.objects.filter(pk=switches.pk).update(updated_at=timezone.now(), **changes)
        switches.refresh_from_db()
    return switches


def store_rate_limit_clear(*, store: KaspiStore) -> StoreRepricing:
    """Staff know the ban is over: resume before the 30 minutes are up."""
    switches = store_settings(store)
    StoreRepricing.objects.filter(pk=switches.pk).update(rate_limited_until=None, updated_at=timezone.now())
    switches.refresh_from_db()
    return switches


def feed_token_rotate(*, store: KaspiStore) -> StoreRepricing:
    """A new secret price-list URL; the old one stops answering at once."""
    switches = store_settings(store)
    StoreRepricing.objects.filter(pk=switches.pk).update(
        feed_token=secrets.token_urlsafe(24), updated_at=timezone.now()
    )
    switches.refresh_from_db()
    return switches
