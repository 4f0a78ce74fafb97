"""The buyer's whole journey in real Chromium: QR URL → drink → sandbox YooKassa page → status → ready.

Real parts: live Django server, a Celery worker process on Redis, Mosquitto, the simulated coffee
machine acknowledging over MQTT and the ack listener loop.
"""

from __future__ import annotations

import re

import pytest

from payments.models import Order
from tests.payments.conftest import ack_listener, machine, shop, sims  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_buyer_pays_and_sees_the_drink_ready(
    page,
    live_server,
    settings,
    shop,  # noqa: F811  (the fixtures are imported from tests/payments/conftest.py)
    sims,  # noqa: F811
    machine,  # noqa: F811
    ack_listener,  # noqa: F811
    start_worker,
) -> None:
    settings.PUBLIC_BASE_URL = live_server.url
    sims.yookassa.webhook_url = f"{live_server.url}/webhooks/yookassa/"
    sims.yookassa.notify_enabled = True
    machine.brew_seconds = 1.0
    shop.account.issues_receipts = True
    shop.account.save()
    start_worker(extra_env=sims.env())

    page.goto(f"{live_server.url}/q/{shop.mqtt_device.code}/")
    assert page.title().startswith("MQTT machine")
    page.get_by_text("Средний · 170 ₽").click()
    page.get_by_label("E-mail").fill("buyer@example.test")
    page.get_by_role("button", name="Оплатить").click()

    page.wait_for_url(re.compile(r"/confirm/"))
    assert "170.00" in page.content()
    page.locator("#pay-card").click()

    page.wait_for_url(re.compile(r"/orders/[0-9a-f-]{36}/$"))
    status = page.locator("#status")
    status.filter(has_text="Напиток готов").wait_for(timeout=30_000)
    order = Order.objects.get(device=shop.mqtt_device)
    assert order.status == "successful" and order.amount == 17000 and order.email == "buyer@example.test"
    assert len(machine.brewed) == 1


def test_unknown_device_shows_a_friendly_error(page, live_server) -> None:
    response = page.goto(f"{live_server.url}/q/no-such-machine/")
    assert response is not None and response.status == 404
    assert page.locator("h1").inner_text() == "Автомат не найден"
    # Mobile-first: the page fits a phone screen without horizontal scrolling.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
