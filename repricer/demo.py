"""`make run` demo: rules on the sandbox Kaspi store's first offers, so their prices follow the simulated
competitors (who move every 20 s) through the real loop: beat → scheduler → repricer queue → uploads.
Never fails `make run`."""

from __future__ import annotations

import logging

from django.db import transaction
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
    from marketplaces.kaspi.demo_account import SANDBOX_MERCHANT_UID
    from marketplaces.kaspi.models import KaspiStore

    from .services.limits import store_settings
    from .tasks import demo_rules

    store = KaspiStore.objects.filter(merchant=merchant, merchant_uid=SANDBOX_MERCHANT_UID).first()
    if store is None:
        return ["Repricer demo: no sandbox Kaspi store (the Kaspi demo did not run)"]
    # The store's offers arrive with its first products sync (queued by the Kaspi demo): rules are put
    # on the first ones as soon as they are there (a task that waits for them, so nothing here needs
    # the simulator's module).
    if not demo_rules_create(store_id=store.pk):
        store_id = store.pk
        transaction.on_commit(lambda: demo_rules.apply_async(args=[store_id], countdown=10))
    switches = store_settings(store)
    rules = reverse("admin:repricer_repricingrule_changelist")
    feed = reverse("repricer-price-list", args=[switches.feed_token])
    return [
        f"Repricer (sandbox): {rules} — the first {DEMO_PRODUCTS} products follow the simulated competitors "
        "(they move every 20 s; each product is checked every 30 s); open one for its history and price chart",
        f"Repricer: stores needing a person at {reverse('admin:repricer_storerepricing_changelist')}?needs_person=yes;"
        f" XML price list for Kaspi at {feed}",
        "Repricer API: /api/v1/repricer/rules/, /price-changes/, /stores/",
    ]


def demo_rules_create(*, store_id: int) -> int:
    """Rules on the demo store's first products, once its products are imported; how many exist."""
    from marketplaces.kaspi.models import KaspiProduct

    from .models import RepricingRule

    products = KaspiProduct.objects.filter(store_id=store_id, is_active=True).order_by("pk")[:DEMO_PRODUCTS]
    for product in products:
        RepricingRule.objects.get_or_create(
            product=product, defaults={"min_price": 1000, "max_price": 1_000_000, "check_interval_seconds": 30}
        )
    return len(products)
