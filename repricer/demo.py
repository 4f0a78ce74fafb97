"""`make run` demo: rules on the sandbox Kaspi store's first offers, so their prices follow the simulated
competitors (who move every 20 s) through the real loop: beat → scheduler → repricer queue → uploads.
Never fails `make run`."""

from __future__ import annotations

import logging

from django.urls import reverse

from core.models import Merchant

log = logging.getLogger(__name__)
DEMO_PRODUCTS = 20


def demo_setup(*, merchant: Merchant) -> list[str]:
    try:
        return _setup(merchant)
    except Exception:  # the repricer demo must not stop the whole stack from starting
        log.exception("repricer demo setup failed; everything else runs")
        return ["Repricer demo: not set up (see the log above)"]


def _setup(merchant: Merchant) -> list[str]:
    from marketplaces.kaspi.clients.cabinet import parse_offer
    from marketplaces.kaspi.models import KaspiProduct, KaspiStore
    from sandbox.kaspi import SANDBOX_MERCHANT_UID
    from sandbox.kaspi_market import _market_factory

    from .models import RepricingRule
    from .services.limits import store_settings

    store = KaspiStore.objects.filter(merchant=merchant, merchant_uid=SANDBOX_MERCHANT_UID).first()
    if store is None:
        return ["Repricer demo: no sandbox Kaspi store (the Kaspi demo did not run)"]
    # The simulator is deterministic: the same offers the cabinet will list once the store has synced.
    offers = _market_factory().state["offers"][SANDBOX_MERCHANT_UID][:DEMO_PRODUCTS]
    for item in offers:
        offer = parse_offer(item)
        product, _ = KaspiProduct.objects.get_or_create(
            store=store,
            sku=offer.sku,
            defaults={
                "kaspi_product_id": offer.card_id,
                "name": offer.title,
                "brand": offer.brand,
                "price": offer.price,
                "shop_link": offer.shop_link,
                "availabilities": offer.availabilities,
                "city_prices": offer.city_prices,
                "is_available": True,
            },
        )
        RepricingRule.objects.get_or_create(
            product=product, defaults={"min_price": 1000, "max_price": 1_000_000, "check_interval_seconds": 30}
        )
    switches = store_settings(store)
    rules = reverse("admin:repricer_repricingrule_changelist")
    feed = reverse("repricer-price-list", args=[switches.feed_token])
    return [
        f"Repricer (sandbox): {rules} — {len(offers)} products follow the simulated competitors (they move every "
        "20 s; each product is checked every 30 s); open one for its history and price chart",
        f"Repricer: stores needing a person at {reverse('admin:repricer_storerepricing_changelist')}?needs_person=yes;"
        f" XML price list for Kaspi at {feed}",
        "Repricer API: /api/v1/repricer/rules/, /price-changes/, /stores/",
    ]
