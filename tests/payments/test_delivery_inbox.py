"""Webhook deliveries are inbox rows (core.inbox, issue 22): a failed application is recorded as
``retry`` with its error and applied later by the one sweep — once, whoever runs it again."""

from __future__ import annotations

from datetime import timedelta
from unittest import mock

import pytest
from django.test import Client
from django.utils import timezone

from core.inbox import InboxStatus
from payments import tasks
from payments.models import BrewCommand, Order, OrderStatus, WebhookDelivery
from payments.services import payments as payment_services

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_a_failed_delivery_is_retried_by_the_sweep_when_due_and_brews_once(client: Client, shop, sims) -> None:
    response = client.post(f"/q/{shop.tbank_device.code}/", {"drink": shop.drink.pk, "size": "small"})
    assert response.status_code == 302
    order = Order.objects.get(device=shop.tbank_device)
    payment_id = order.payment.provider_payment_id
    sims.tbank.pay(payment_id)
    body = sims.tbank.notification(sims.tbank.state["payments"][payment_id])
    with mock.patch("payments.tasks.brew_process_delivery.delay"):  # stored only: run by hand below
        assert client.post("/webhooks/tbank/", body, content_type="application/json").content == b"OK"
    delivery = WebhookDelivery.objects.get(provider_payment_id=payment_id)
    assert delivery.status == InboxStatus.RECEIVED

    # A bug in the general path (the one-statement path of a paying delivery stands aside, as it
    # does for any delivery it cannot apply: test_pay_at_once.py).
    with (
        mock.patch.object(payment_services, "pay_at_once", return_value=None),
        mock.patch.object(payment_services, "_apply_status", side_effect=RuntimeError("a bug")),
    ):
        tasks.brew_process_delivery.apply(args=(delivery.pk,))  # not a retried error: the task fails
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (InboxStatus.RETRY, 1)
    assert "RuntimeError: a bug" in delivery.last_error and delivery.next_attempt_at > timezone.now()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING  # rolled back with the claim
    assert not BrewCommand.objects.exists()

    assert tasks.deliveries_retry(older_than_seconds=0) == 0  # not due yet
    WebhookDelivery.objects.filter(pk=delivery.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert tasks.deliveries_retry(older_than_seconds=0) == 1
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_error) == (InboxStatus.PROCESSED, 2, "paid")
    assert Order.objects.get(pk=order.pk).status != OrderStatus.PENDING
    # A late task message and another sweep change nothing: one brew command, ever.
    assert payment_services.webhook_process(delivery_id=delivery.pk) == "noop"
    assert tasks.deliveries_retry(older_than_seconds=0) == 0
    assert BrewCommand.objects.filter(order=order).count() == 1
