"""A flood of anonymous orders costs the merchant at most a handful of provider payments (SPEC PAY-1, REL-3)."""

from __future__ import annotations

import pytest
from django.test import Client

from payments.models import Order

pytestmark = pytest.mark.django_db

FLOODER = "203.0.113.50"


def _order(shop, ip: str, device=None) -> object:
    device = device or shop.device
    return Client(REMOTE_ADDR=ip).post(f"/q/{device.code}/", {"drink": shop.drink.pk, "size": "small"})


@pytest.mark.slow
def test_a_thousand_orders_from_one_address_create_a_handful_of_payments(shop, sims, settings) -> None:
    limit = settings.BUYER_ORDERS_PER_ADDRESS
    statuses = [_order(shop, FLOODER).status_code for _ in range(1000)]
    assert statuses[:limit] == [302] * limit
    assert set(statuses[limit:]) == {429}
    assert len(sims.yookassa.state["payments"]) == limit  # what the flood cost the merchant
    assert Order.objects.count() == limit

    # A buyer on another address, at the same machine, is served as usual.
    other = _order(shop, "198.51.100.20")
    assert other.status_code == 302
    assert len(sims.yookassa.state["payments"]) == limit + 1


def test_the_limited_buyer_sees_a_friendly_russian_page(shop, sims, settings) -> None:
    settings.BUYER_ORDERS_PER_ADDRESS = 1
    assert _order(shop, FLOODER).status_code == 302
    page = _order(shop, FLOODER)
    assert page.status_code == 429
    assert 0 < int(page["Retry-After"]) <= settings.BUYER_ORDER_WINDOW_SECONDS
    text = page.content.decode()
    assert "Слишком много заказов" in text and "Подождите" in text
    assert "Traceback" not in text


def test_many_addresses_together_cannot_bury_one_machine(shop, sims, settings) -> None:
    settings.BUYER_ORDERS_PER_DEVICE = 5
    statuses = [_order(shop, f"192.0.2.{n}").status_code for n in range(1, 31)]
    assert statuses.count(302) == 5 and statuses[5:] == [429] * 25
    assert _order(shop, "192.0.2.200", device=shop.mqtt_device).status_code == 302  # other machines are not


def test_the_machines_dynamic_qr_is_limited_too(shop, sims, settings) -> None:
    settings.BUYER_ORDERS_PER_ADDRESS = 3
    flood = Client(REMOTE_ADDR=FLOODER)
    statuses = [
        flood.get(f"/v1/pay?deviceUuid={shop.device.external_id}&drinkNo=7&size=1&uuid=m-{n}").status_code
        for n in range(40)
    ]
    assert statuses[:3] == [302] * 3 and set(statuses[3:]) == {429}
    assert len(sims.yookassa.state["payments"]) == 3


def test_behind_a_trusted_proxy_buyers_are_told_apart_by_the_forwarded_address(shop, sims, settings) -> None:
    settings.BUYER_ORDERS_PER_ADDRESS = 1
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = "127.0.0.1"

    def via_proxy(buyer: str) -> int:
        client = Client(REMOTE_ADDR=proxy, HTTP_X_FORWARDED_FOR=buyer)
        return client.post(f"/q/{shop.device.code}/", {"drink": shop.drink.pk, "size": "small"}).status_code

    assert [via_proxy("198.51.100.1"), via_proxy("198.51.100.2"), via_proxy("198.51.100.1")] == [302, 302, 429]
