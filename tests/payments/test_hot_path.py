"""The webhook → brew hot path makes few round trips (SPEC PERF-4): each one counts at p99 on a busy
machine. What is counted here is what the code sends, not time, so it holds on any machine."""

from __future__ import annotations

from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from payments.models import BrewCommand, OrderEvent, OrderStatus, WebhookDelivery
from payments.services.orders import order_create
from payments.services.payments import webhook_process
from payments.services.transitions import TransitionNotAllowed, order_transitions
from payments.services.webhooks import _Confirmation

pytestmark = [pytest.mark.django_db(transaction=True)]


def _paid_notification(shop, sims):  # type: ignore[no-untyped-def]
    order = order_create(device=shop.mqtt_device, drink=shop.drink, size="small").order
    pid = order.payment.provider_payment_id
    sims.yookassa.pay(pid)
    payment = dict(sims.yookassa.state["payments"][pid])
    return order, sims.yookassa.notification("payment.waiting_for_capture", payment)


def test_a_paid_webhook_reads_payment_and_account_in_one_query_and_stores_in_one_statement(
    client: Client, shop, sims
) -> None:
    order, body = _paid_notification(shop, sims)
    with mock.patch("payments.tasks.brew_process_delivery.delay") as enqueue, CaptureQueriesContext(connection) as q:
        assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 200
    statements = [query["sql"].split()[0] for query in q.captured_queries]
    # The payment with its account and the "already stored" flag; the INSERT commits itself (no BEGIN/COMMIT).
    assert statements == ["SELECT", "INSERT"], statements
    delivery = WebhookDelivery.objects.get()
    assert delivery.payment_id == order.payment.pk
    enqueue.assert_called_once_with(delivery.pk)  # after the commit: the row is there for the worker


def test_processing_a_paying_delivery_claims_the_command_in_the_paying_transaction(client: Client, shop, sims) -> None:
    order, body = _paid_notification(shop, sims)
    with mock.patch("payments.tasks.brew_process_delivery.delay"):
        assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 200
    delivery = WebhookDelivery.objects.get()
    with mock.patch("payments.services.payments.brew_publish") as publish, CaptureQueriesContext(connection) as q:
        assert webhook_process(delivery_id=delivery.pk) == "paid"
    # One statement (pay_at_once): the delivery and payment locked, the payment's status, the order,
    # its two events, the command claimed, the delivery done — committed by itself.
    assert [query["sql"].split()[0] for query in q.captured_queries] == ["WITH"], q.captured_queries
    command = BrewCommand.objects.get(order=order)
    assert command.status == BrewCommand.Status.SENDING and command.attempts == 1
    assert command.sent_at is not None and command.deadline is not None and command.deadline > command.sent_at
    publish.assert_called_once()
    order.refresh_from_db()
    assert order.status == OrderStatus.MAKE_PENDING
    moves = list(
        OrderEvent.objects.filter(order=order, kind="transition").order_by("pk").values_list("from_status", "to_status")
    )
    assert moves[-2:] == [(OrderStatus.PENDING, OrderStatus.PAID), (OrderStatus.PAID, OrderStatus.MAKE_PENDING)]
    # A redelivered task changes nothing and creates no second command.
    with mock.patch("payments.services.payments.brew_publish"):
        assert webhook_process(delivery_id=delivery.pk) == "noop"
    assert BrewCommand.objects.filter(order=order).count() == 1


def test_a_multi_step_move_is_refused_when_a_step_is_not_in_the_table(shop) -> None:
    order = order_create(device=shop.mqtt_device, drink=shop.drink, size="small").order
    with pytest.raises(TransitionNotAllowed):
        order_transitions(order_id=order.pk, from_=OrderStatus.PENDING, path=[(OrderStatus.SUCCESSFUL, "skip")])
    # From a state the order is not in: no move, no event.
    before = OrderEvent.objects.filter(order=order).count()
    assert not order_transitions(
        order_id=order.pk, from_=OrderStatus.PAID, path=[(OrderStatus.MAKE_PENDING, "brew command")]
    )
    assert OrderEvent.objects.filter(order=order).count() == before


def test_a_confirmed_and_stored_event_spares_the_next_read_of_the_same_event(settings) -> None:
    first = _Confirmation("yookassa", "hot-path-payment", "payment.succeeded:hot-path-payment")
    assert first.take() == "taken"
    same_event = _Confirmation("yookassa", "hot-path-payment", "payment.succeeded:hot-path-payment")
    assert same_event.take() == "busy"  # one read in flight per payment
    first.release(confirmed=True, stored=True)
    assert same_event.take() == "stored"  # found stored: answered without reading the provider again
    other_event = _Confirmation("yookassa", "hot-path-payment", "payment.canceled:hot-path-payment")
    assert other_event.take() == "taken"
    other_event.release(confirmed=False)
    assert _Confirmation("yookassa", "hot-path-payment", "x").take() == "spent"
