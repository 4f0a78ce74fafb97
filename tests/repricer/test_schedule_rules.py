"""When a product is checked: working hours, priority interval, failure backoff, skip-locked claiming."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from marketplaces.kaspi.models import KaspiProduct, KaspiStore
from repricer.models import RepricingRule, StoreRepricing
from repricer.services.loop import rules_claim_due
from repricer.services.reprice import check_interval, failure_backoff, next_working_moment
from tests.factories import MerchantFactory

TZ = ZoneInfo("Asia/Almaty")


def _rule(**fields: object) -> RepricingRule:
    return RepricingRule(min_price=10, max_price=100, **fields)  # type: ignore[misc]


@pytest.mark.parametrize(
    ("start", "end", "now", "expected"),
    [
        (time(9), time(21), datetime(2026, 1, 5, 12, 0, tzinfo=TZ), None),
        (time(9), time(21), datetime(2026, 1, 5, 7, 30, tzinfo=TZ), datetime(2026, 1, 5, 9, 0, tzinfo=TZ)),
        (time(9), time(21), datetime(2026, 1, 5, 22, 0, tzinfo=TZ), datetime(2026, 1, 6, 9, 0, tzinfo=TZ)),
        (time(22), time(6), datetime(2026, 1, 5, 23, 0, tzinfo=TZ), None),  # over midnight
        (time(22), time(6), datetime(2026, 1, 5, 12, 0, tzinfo=TZ), datetime(2026, 1, 5, 22, 0, tzinfo=TZ)),
    ],
)
def test_working_hours(start: time, end: time, now: datetime, expected: datetime | None, settings: object) -> None:
    with timezone.override(TZ):
        assert next_working_moment(_rule(work_from=start, work_to=end), now) == expected


def test_priority_products_are_checked_at_least_every_priority_interval(settings: object) -> None:
    assert check_interval(_rule(check_interval_seconds=300)) == timedelta(seconds=300)
    assert check_interval(_rule(check_interval_seconds=300, is_priority=True)) == timedelta(seconds=60)


def test_failures_back_off_exponentially_up_to_the_cap() -> None:
    rule = _rule(check_interval_seconds=60)
    assert [failure_backoff(rule, n).total_seconds() for n in (1, 2, 3, 10)] == [120, 240, 480, 3600]


@pytest.mark.django_db(transaction=True)
def test_claiming_takes_each_due_product_once_priority_first_and_skips_paused_stores() -> None:
    merchant = MerchantFactory()
    running = KaspiStore.objects.create(merchant=merchant, name="a", merchant_uid="1")
    paused = KaspiStore.objects.create(merchant=merchant, name="b", merchant_uid="2")
    StoreRepricing.objects.create(store=paused, is_paused=True)
    past = timezone.now() - timedelta(minutes=1)

    def rule(store: KaspiStore, sku: str, **fields: object) -> RepricingRule:
        product = KaspiProduct.objects.create(store=store, sku=sku, kaspi_product_id="1")
        return RepricingRule.objects.create(product=product, min_price=10, max_price=100, next_check_at=past, **fields)  # type: ignore[misc]

    normal, urgent = rule(running, "n"), rule(running, "u", is_priority=True)
    rule(paused, "p")
    later = rule(running, "later")
    RepricingRule.objects.filter(pk=later.pk).update(next_check_at=timezone.now() + timedelta(hours=1))
    rule(running, "off", is_active=False)

    assert rules_claim_due(limit=1) == [urgent.pk]
    assert rules_claim_due() == [normal.pk]
    assert rules_claim_due() == []  # claimed ones are leased
