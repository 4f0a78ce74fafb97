"""The Kaspi cabinet and the Shop API are paced as their clients declare, across processes (issue 22):
Kaspi answers a burst at the cabinet with a 30-minute ban, so two worker processes acting for one
merchant (or one store) share one evenly spaced lane at the configured rate."""

from __future__ import annotations

import uuid

from tests.support.pacing import assert_paced, grants_across_processes


def test_the_declared_cabinet_pace_holds_across_two_processes(settings) -> None:
    slots, rate = grants_across_processes(
        "marketplaces.kaspi.clients.cabinet:pacer", merchant_key=f"test-{uuid.uuid4().hex}", grants=3
    )
    assert rate == settings.KASPI_CABINET_RATE_PER_SECOND == 2.0  # the real limit, not a test's
    assert_paced(slots, rate)


def test_the_declared_shop_api_pace_holds_across_two_processes(settings) -> None:
    slots, rate = grants_across_processes(
        "marketplaces.kaspi.clients.shop:pacer", store_id=uuid.uuid4().int % 10**12, grants=4
    )
    assert rate == settings.KASPI_SHOP_API_RATE_PER_SECOND == 5.0
    assert_paced(slots, rate)


def test_the_declared_price_upload_pace_holds_across_two_processes(settings) -> None:
    """Uploads take a slot of this lane as well as the cabinet's: a 429 bans the merchant for 30 minutes."""
    slots, rate = grants_across_processes(
        "marketplaces.kaspi.clients.cabinet:upload_pacer", merchant_key=f"test-{uuid.uuid4().hex}", grants=2
    )
    assert rate == settings.REPRICER_UPLOAD_RATE_PER_SECOND == 1.5
    assert_paced(slots, rate)
