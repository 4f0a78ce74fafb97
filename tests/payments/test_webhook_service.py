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


def test_a_database_error_while_applying_a_notification_is_retried_not_dropped(client: Client, shop, sims) -> None:
    """The buyer stands at the machine: a deadlock victim or a connection blip while applying a
    stored notification retries the task at once (short backoff, bounded), instead of failing it
    and leaving the order unpaid until the sweep — or for good where no beat runs."""
    from unittest import mock

    from django.db import OperationalError

    from payments import tasks
    from payments.services import payments as payment_services

    order = _buy(client, shop, shop.tbank_device)
    payment_id = order.payment.provider_payment_id
    sims.tbank.pay(payment_id)
    body = sims.tbank.notification(sims.tbank.state["payments"][payment_id])
    with (
        mock.patch("payments.services.payments.brew_process_delivery", create=True),
        mock.patch("payments.tasks.brew_process_delivery.delay"),
    ):  # stored only: the task is run below, by hand
        assert client.post("/webhooks/tbank/", body, content_type="application/json").content == b"OK"
    delivery = WebhookDelivery.objects.get(provider_payment_id=payment_id)
    real = payment_services._apply_status
    calls = {"n": 0}

    def blip(**kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("deadlock detected")
        return real(**kwargs)

    # The blip in the general path (the one-statement path of a paying delivery hands a database
    # error over to it: test_pay_at_once.py).
    with (
        mock.patch.object(payment_services, "pay_at_once", return_value=None),
        mock.patch.object(payment_services, "_apply_status", side_effect=blip),
    ):
        tasks.brew_process_delivery.apply(args=(delivery.pk,))  # eager: a retry runs at once
    delivery.refresh_from_db()
    assert calls["n"] == 2 and delivery.processed_at is not None
    assert Order.objects.get(pk=order.pk).status in (OrderStatus.PAID, OrderStatus.MAKE_PENDING, OrderStatus.SUCCESSFUL)
    # The documented bound: the retries' backoff adds up to at most half a minute.
    assert tasks.DELIVERY_RETRY_SECONDS <= 31
