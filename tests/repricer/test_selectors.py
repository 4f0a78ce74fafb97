"""The repricer's reads (``repricer.selectors``), which its API and admin call."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from marketplaces.kaspi.models import KaspiProduct, KaspiStore, SessionState
from repricer import selectors
from repricer.models import PriceChange, RepricingRule, StoreRepricing
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_the_chart_reads_the_latest_decisions_oldest_first() -> None:
    store = KaspiStore.objects.create(merchant=MerchantFactory(), name="S", merchant_uid="1")
    product = KaspiProduct.objects.create(store=store, sku="SKU-1", kaspi_product_id="5", price=900)
    rule = RepricingRule.objects.create(product=product, min_price=10, max_price=1000)
    start = timezone.now() - timedelta(hours=5)
    for i in range(4):
        PriceChange.objects.create(
            rule=rule, product=product, old_price=100 + i, new_price=99 + i, competitor_best=98 + i,
            reason="undercut", outcome="applied", created_at=start + timedelta(hours=i),
        )  # fmt: skip
    points = selectors.price_history_points(rule=rule, limit=3)
    assert [old for _, old, _, _, _ in points] == [101, 102, 103]
    assert [at for at, *_ in points] == sorted(at for at, *_ in points)


def test_stores_needing_a_person_are_the_relogin_the_banned_and_the_paused_with_active_rules() -> None:
    merchant = MerchantFactory()

    def switches(name: str, **fields: object) -> StoreRepricing:
        state = fields.pop("session_state", SessionState.OK)
        store = KaspiStore.objects.create(merchant=merchant, name=name, merchant_uid=name, session_state=state)
        return StoreRepricing.objects.create(store=store, **fields)

    switches("relogin", session_state=SessionState.NEEDS_RELOGIN)
    switches("banned", rate_limited_until=timezone.now() + timedelta(minutes=5))
    paused = switches("paused", is_paused=True)
    product = KaspiProduct.objects.create(store=paused.store, sku="P-1", kaspi_product_id="9", price=500)
    RepricingRule.objects.create(product=product, min_price=10, max_price=1000)
    switches("paused-idle", is_paused=True)
    switches("running")
    switches("ban-over", rate_limited_until=timezone.now() - timedelta(minutes=5))
    everything = StoreRepricing.objects.all()
    needing = {s.store.name for s in selectors.stores_needing_person(everything, needs=True).distinct()}
    running = {s.store.name for s in selectors.stores_needing_person(everything, needs=False).distinct()}
    assert needing == {"relogin", "banned", "paused"}
    assert running == {"paused-idle", "running", "ban-over"}
