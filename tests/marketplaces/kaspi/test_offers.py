"""The public competitor-offers endpoint of the sandbox and its client (used by the repricer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import requests
from django.conf import settings

from marketplaces.kaspi.clients.offers import OffersClient


def test_public_offers_are_paged_by_64_and_read_completely(kaspi: Callable[..., Any]) -> None:
    sim = kaspi()
    offers = OffersClient(base_url=settings.KASPI_OFFERS_URL).offers(product_id="113137790")
    assert len(offers) >= 64 and len({o.merchant_sku for o in offers}) == len(offers)
    assert [o.price for o in offers] == sorted(o.price for o in offers)
    assert sim.request_count == 2  # 64 + the rest
    # Without browser-like headers Kaspi refuses the call.
    bare = requests.post(f"{settings.KASPI_OFFERS_URL}/113137790", json={"id": "113137790"}, timeout=5)
    assert bare.status_code == 403
