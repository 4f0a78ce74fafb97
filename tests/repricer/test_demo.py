"""The `make run` hook: the sandbox store's first offers get rules (once), as soon as its products are in."""

from __future__ import annotations

import pytest

from marketplaces.kaspi.clients.cabinet import parse_offer
from marketplaces.kaspi.demo_account import SANDBOX_MERCHANT_UID
from marketplaces.kaspi.models import KaspiProduct, KaspiStore
from repricer.demo import DEMO_PRODUCTS, demo_rules_create, demo_setup
from repricer.models import RepricingRule
from sandbox.kaspi_market import _market_factory
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_demo_rules_wait_for_the_products_then_are_created_once(django_capture_on_commit_callbacks) -> None:
    merchant = MerchantFactory()
    store = KaspiStore.objects.create(merchant=merchant, name="Kaspi sandbox store", merchant_uid=SANDBOX_MERCHANT_UID)
    with django_capture_on_commit_callbacks() as queued:
        lines = demo_setup(merchant=merchant)
    assert any("/kaspi/price-list/" in line for line in lines)
    assert not RepricingRule.objects.exists() and len(queued) == 1  # the rules task waits for the products sync

    # What the products sync stores from the cabinet offer list of the simulator.
    sim = _market_factory()
    for item in sim.state["offers"][SANDBOX_MERCHANT_UID][: DEMO_PRODUCTS + 5]:
        offer = parse_offer(item)
        KaspiProduct.objects.create(
            store=store, sku=offer.sku, kaspi_product_id=offer.card_id, name=offer.title, price=offer.price
        )
    assert demo_rules_create(store_id=store.pk) == DEMO_PRODUCTS
    assert demo_rules_create(store_id=store.pk) == DEMO_PRODUCTS
    assert RepricingRule.objects.filter(product__store=store).count() == DEMO_PRODUCTS
    for rule in RepricingRule.objects.select_related("product"):
        assert (SANDBOX_MERCHANT_UID, rule.product.sku) in sim.state["own"][rule.product.kaspi_product_id]
