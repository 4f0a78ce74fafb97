"""The simulators and our webhooks speak the providers' documented shapes (tests/fixtures/<provider>/)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.test import Client

from payments.clients.tbank import make_token, token_valid
from payments.models import Order, OrderStatus
from payments.services.orders import order_create

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
pytestmark = [pytest.mark.django_db(transaction=True)]


def fixture(path: str) -> object:
    return json.loads((FIXTURES / path).read_text())


def test_yookassa_documented_notification_is_accepted_once_confirmed(
    client: Client, shop, sims, eager, settings
) -> None:
    settings.WEBHOOK_CONFIRM_INTERVAL_SECONDS = 0.5  # the forged-notification budget, short for the test
    order = order_create(device=shop.device, drink=shop.drink, size="small").order
    body = fixture("yookassa/notification_waiting_for_capture.json")
    body["object"]["id"] = order.payment.provider_payment_id
    body["object"]["metadata"]["order_id"] = str(order.pk)
    # Not yet paid at the provider: the documented body alone proves nothing...
    assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 400
    sims.yookassa.pay(order.payment.provider_payment_id)
    reads = sims.yookassa.request_count
    # ...and within the budget's interval no notification of that payment reaches the provider (429:
    # YooKassa redelivers); after it, the redelivery is confirmed and applied.
    assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 429
    assert sims.yookassa.request_count == reads
    deadline = time.monotonic() + 30
    while (status := client.post("/webhooks/yookassa/", body, content_type="application/json").status_code) == 429:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert status == 200
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SUCCESSFUL
    # The simulator's own notifications carry every top-level field of the documented one.
    ours = sims.yookassa.notification(
        "payment.waiting_for_capture", sims.yookassa.state["payments"][order.payment.provider_payment_id]
    )
    assert set(body) == set(ours)
    assert {"id", "status", "paid", "amount", "metadata", "created_at"} <= set(ours["object"])


def test_tbank_documented_notification_token(client: Client, shop, sims, eager) -> None:
    order = order_create(device=shop.tbank_device, drink=shop.drink, size="small").order
    sims.tbank.pay(order.payment.provider_payment_id)
    body = fixture("tbank/notification_authorized.json")
    body.update(TerminalKey=sims.terminal_key, OrderId=str(order.pk), PaymentId=int(order.payment.provider_payment_id))
    body["Token"] = make_token(body, sims.terminal_password)
    assert token_valid(body, sims.terminal_password)
    assert not token_valid({**body, "Amount": 1}, sims.terminal_password)  # any field changed → invalid
    assert not token_valid({**body, "Success": False}, sims.terminal_password)  # booleans are signed too
    response = client.post("/webhooks/tbank/", body, content_type="application/json")
    assert response.status_code == 200 and response.content == b"OK"
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SUCCESSFUL
    made = sims.tmetr.state["commands"][0]
    assert set(made) == set(fixture("tmetr/command_make_request.json")[0])


def test_tmetr_price_shape(shop, sims) -> None:
    from payments.clients.tmetr import TmetrClient

    sims.tmetr.state["prices"][("dev-1", "2", "MEDIUM")] = fixture("tmetr/static_drink_response.json")["price"]
    assert TmetrClient().drink_price(device_id="dev-1", drink_id="2", size="medium") == 17000
