"""The one webhook service (authenticate → confirm → record): a slow provider answers 503 at once,
with a single bounded read, and the provider's redelivery is then applied (issue 10)."""

from __future__ import annotations

import pytest
from django.test import Client

from payments.models import Order, OrderStatus, WebhookDelivery
from payments.services.webhooks import Notification, webhook_receive

pytestmark = [pytest.mark.django_db(transaction=True)]


def _buy(client: Client, shop, device) -> Order:
    response = client.post(f"/q/{device.code}/", {"drink": shop.drink.pk, "size": "small"})
    assert response.status_code == 302, response.content[:500]
    return Order.objects.get(device=device)


def test_a_hanging_tbank_getstate_is_one_bounded_attempt_and_a_503(client: Client, shop, sims, eager, settings) -> None:
    settings.WEBHOOK_PROVIDER_TIMEOUT_SECONDS = 0.5
    order = _buy(client, shop, shop.tbank_device)
    payment_id = order.payment.provider_payment_id
    sims.tbank.pay(payment_id)
    body = sims.tbank.notification(sims.tbank.state["payments"][payment_id])
    sims.tbank.faults.hang_next, sims.tbank.faults.hang_seconds = 5, 3
    before = sims.tbank.request_count
    response = client.post("/webhooks/tbank/", body, content_type="application/json")
    assert response.status_code == 503  # the bank redelivers; no web thread waits through retries
    assert sims.tbank.request_count - before == 1  # one GetState, not retried
    assert not WebhookDelivery.objects.filter(provider_payment_id=payment_id).exists()
    sims.tbank.faults.hang_next = 0
    response = client.post("/webhooks/tbank/", body, content_type="application/json")  # the redelivery
    assert response.status_code == 200 and response.content == b"OK"
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL


def test_a_slow_yookassa_read_is_one_bounded_attempt_and_a_503(client: Client, shop, sims, eager, settings) -> None:
    settings.WEBHOOK_PROVIDER_TIMEOUT_SECONDS = 0.5
    order = _buy(client, shop, shop.device)
    sims.yookassa.pay(order.payment.provider_payment_id)  # card → waiting_for_capture
    payment = sims.yookassa.state["payments"][order.payment.provider_payment_id]
    body = sims.yookassa.notification("payment.waiting_for_capture", payment)
    sims.yookassa.faults.latency_ms = 3000
    before = sims.yookassa.request_count
    response = client.post("/webhooks/yookassa/", body, content_type="application/json")
    assert response.status_code == 503
    assert sims.yookassa.request_count - before == 1
    sims.yookassa.faults.latency_ms = 0
    assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 200
    assert WebhookDelivery.objects.filter(provider_payment_id=payment["id"]).count() == 1


def test_the_service_maps_each_failure_to_its_answer(client: Client, shop, sims) -> None:
    order = _buy(client, shop, shop.tbank_device)
    payment_id = order.payment.provider_payment_id

    def notification(**changes: object) -> Notification:
        values: dict = {
            "provider": "tbank",
            "event_key": f"{payment_id}:AUTHORIZED",
            "event": "AUTHORIZED",
            "provider_payment_id": payment_id,
            "claimed": "waiting_for_capture",
            "payload": {},
            "authenticate": lambda account: True,
            "check_order": False,
            **changes,
        }
        return Notification(**values)  # type: ignore[arg-type]

    assert webhook_receive(notification=notification(provider_payment_id="nope"), remote_addr=None).status == 400
    assert webhook_receive(notification=notification(authenticate=lambda a: False), remote_addr=None).status == 403
    # Correctly authenticated, but the bank says the payment is still NEW: not confirmed.
    assert webhook_receive(notification=notification(), remote_addr=None).status == 400
    sims.tbank.pay(payment_id)
    assert webhook_receive(notification=notification(), remote_addr=None).ok
