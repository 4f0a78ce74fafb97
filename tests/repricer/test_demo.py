"""The `make run` hook: the sandbox store's first offers get rules (once), matching the simulator's cards."""

from __future__ import annotations

import pytest

from marketplaces.kaspi.models import KaspiProduct, KaspiStore
from repricer.demo import DEMO_PRODUCTS, demo_setup
from repricer.models import RepricingRule
from sandbox.kaspi import SANDBOX_MERCHANT_UID
from sandbox.kaspi_market import _market_factory
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_demo_rules_are_created_once_on_the_simulators_cards() -> None:
    merchant = MerchantFactory()
    store = KaspiStore.objects.create(merchant=merchant, name="Kaspi sandbox store", merchant_uid=SANDBOX_MERCHANT_UID)
    lines = demo_setup(merchant=merchant)
    demo_setup(merchant=merchant)
    assert any("/kaspi/price-list/" in line for line in lines)
    assert RepricingRule.objects.filter(product__store=store).count() == DEMO_PRODUCTS
    sim = _market_factory()
    for product in KaspiProduct.objects.filter(store=store):
        assert product.kaspi_product_id in sim.state["own"]
        assert (SANDBOX_MERCHANT_UID, product.sku) in sim.state["own"][product.kaspi_product_id]
