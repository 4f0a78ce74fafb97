"""One guard for untrusted JSON (issue 22): a notification or an acknowledgement holding what jsonb
cannot store (NaN, a lone surrogate) is refused at the edge with a 4xx, never stored, never a 500."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client

from payments.clients import mqtt
from payments.models import Order, OrderStatus, WebhookDelivery

pytestmark = [pytest.mark.django_db(transaction=True)]

POISON = {"nan": b"NaN", "lone surrogate": b'"\\ud800"'}


def _poisoned(body: dict, poison: bytes) -> bytes:
    # The provider's own fields, plus one value that is valid JSON text but not storable in jsonb.
    return json.dumps({**body, "extra": "@"}).encode().replace(b'"@"', poison)


@pytest.mark.parametrize("poison", POISON.values(), ids=POISON.keys())
def test_a_confirmed_yookassa_notification_with_unstorable_json_is_a_400(
    client: Client, shop, sims, eager, poison: bytes
) -> None:
    response = client.post(f"/q/{shop.device.code}/", {"drink": shop.drink.pk, "size": "small"})
    assert response.status_code == 302
    order = Order.objects.get(device=shop.device)
    sims.yookassa.pay(order.payment.provider_payment_id)  # the provider confirms: only the body is bad
    payment = sims.yookassa.state["payments"][order.payment.provider_payment_id]
    body = _poisoned(sims.yookassa.notification("payment.waiting_for_capture", payment), poison)
    response = client.post("/webhooks/yookassa/", body, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "rejected"
    assert not WebhookDelivery.objects.exists()
    order.refresh_from_db()
    assert order.status != OrderStatus.SUCCESSFUL
    # The clean notification still works afterwards.
    clean = sims.yookassa.notification("payment.waiting_for_capture", payment)
    assert client.post("/webhooks/yookassa/", clean, content_type="application/json").status_code == 200
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize("poison", POISON.values(), ids=POISON.keys())
def test_a_tbank_notification_with_unstorable_json_is_a_400(client: Client, shop, sims, poison: bytes) -> None:
    response = client.post(f"/q/{shop.tbank_device.code}/", {"drink": shop.drink.pk, "size": "small"})
    assert response.status_code == 302
    order = Order.objects.get(device=shop.tbank_device)
    payment_id = order.payment.provider_payment_id
    sims.tbank.pay(payment_id)
    body = _poisoned(sims.tbank.notification(sims.tbank.state["payments"][payment_id]), poison)
    response = client.post("/webhooks/tbank/", body, content_type="application/json")
    assert response.status_code == 400
    assert not WebhookDelivery.objects.exists()


@pytest.mark.parametrize(
    "payload",
    [
        b'{"command_id": "c-1", "status": "failed", "error": NaN}',
        b'{"command_id": "c-1", "status": "failed", "error": "\\ud800"}',
        b'{"command_id": "c-\\ud800", "status": "done"}',
        b'{"command_id": "c-1\\u0000", "status": "done"}',
    ],
)
def test_an_ack_with_unstorable_json_is_refused_and_logged(payload: bytes, caplog) -> None:
    with caplog.at_level(logging.WARNING, logger="payments.mqtt_listener"):
        assert mqtt.parse_ack("devices/mq-1/events/ack", payload) is None
    assert any("refused" in record.getMessage() for record in caplog.records)
