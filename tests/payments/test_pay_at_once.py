"""A paying delivery applied in one statement (payments/services/pay_at_once.py, PERF-4): the same rows
as the general path, nothing at all when it is not the common case, one brew under concurrency."""

from __future__ import annotations

import threading
from typing import Any
from unittest import mock

import pytest
from django.db import connection, connections, models
from django.test import Client
from django.test.utils import CaptureQueriesContext

from core.inbox import InboxStatus
from payments.models import BrewCommand, Order, OrderEvent, OrderStatus, Payment, WebhookDelivery
from payments.services import payments as payment_services
from payments.services.orders import order_create
from payments.services.pay_at_once import pay_at_once
from payments.services.payments import webhook_process
from tests.support.concurrency import at_once


def _stored(client: Client, shop: Any, sims: Any, device: Any, event: str = "payment.waiting_for_capture") -> Order:
    """An order of ``device`` paid at its provider, the provider's notification stored (not processed)."""
    order = order_create(device=device, drink=shop.drink, size="small").order
    pid = order.payment.provider_payment_id
    with mock.patch("payments.tasks.brew_process_delivery.delay"):  # stored only: processed by the test
        if device.provider == "tbank":
            sims.tbank.pay(pid)
            body = sims.tbank.notification(sims.tbank.state["payments"][pid])
            assert client.post("/webhooks/tbank/", body, content_type="application/json").content == b"OK"
        else:
            if event == "payment.canceled":
                sims.yookassa.decline(pid)
            else:
                sims.yookassa.pay(pid)
            body = sims.yookassa.notification(event, dict(sims.yookassa.state["payments"][pid]))
            assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 200
    return order


def _delivery(order: Order) -> WebhookDelivery:
    return WebhookDelivery.objects.get(payment=order.payment)


def _row(instance: models.Model, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every column of a row; ids, keys and times reduced to whether they are set, so that two
    orders' rows compare. A column added later is compared too."""
    out: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if field.name in skip:
            continue
        value = getattr(instance, field.attname)
        opaque = field.primary_key or field.is_relation or isinstance(field, models.DateTimeField | models.UUIDField)
        out[field.name] = (value is not None) if opaque else value
    return out


def _left(order: Order) -> dict[str, Any]:
    order = Order.objects.get(pk=order.pk)
    payment = Payment.objects.get(order=order)
    delivery = _delivery(order)
    command = BrewCommand.objects.filter(order=order).first()
    return {
        "order": _row(order, skip=("expires_at", "machine_order_id")),
        "payment": _row(payment, skip=("provider_payment_id", "confirmation_url", "raw")),
        "delivery": _row(delivery, skip=("event_key", "provider_payment_id", "payload", "remote_addr")),
        "events": list(
            OrderEvent.objects.filter(order=order)
            .exclude(from_status=OrderStatus.CREATED)  # the order's creation: names its own payment
            .order_by("pk")
            .values_list("kind", "from_status", "to_status", "note")
        ),
        "command": None if command is None else _row(command),
        "ack window": None
        if command is None or command.deadline is None or command.sent_at is None
        else (command.deadline - command.sent_at).total_seconds(),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("device", ["mqtt_device", "device", "tbank_device"])
def test_a_paying_delivery_leaves_the_same_rows_as_the_general_path(client: Client, shop, sims, device: str) -> None:
    """YooKassa over MQTT (the device's own ack timeout), YooKassa over Tmetr (the default timeout),
    T-Bank: the one statement and the general path (claim, payment, order, events, command, outcome)
    leave every column alike."""
    machine = getattr(shop, device)
    fast, general = _stored(client, shop, sims, machine), _stored(client, shop, sims, machine)
    fast_delivery = _delivery(fast).pk
    with mock.patch("payments.services.payments.brew_publish") as publish:
        with CaptureQueriesContext(connection) as q:
            assert webhook_process(delivery_id=fast_delivery) == "paid"
        # One statement (the test's transaction adds a savepoint around it; a task has none).
        assert [query["sql"].split()[0] for query in q.captured_queries] == ["SAVEPOINT", "WITH", "RELEASE"]
        with mock.patch.object(payment_services, "pay_at_once", return_value=None):
            assert webhook_process(delivery_id=_delivery(general).pk) == "paid"
    assert publish.call_count == 2
    assert _left(fast) == _left(general)
    assert _left(fast)["order"]["status"] == OrderStatus.MAKE_PENDING
    assert _left(fast)["delivery"]["status"] == InboxStatus.PROCESSED
    # What the publish is handed: the command as stored, its order and device attached.
    handed = publish.call_args_list[0].kwargs["command"]
    stored = BrewCommand.objects.select_related("order__device").get(order=fast)
    assert (handed.pk, handed.command_id, handed.channel, handed.status) == (
        stored.pk,
        stored.command_id,
        stored.channel,
        stored.status,
    )
    assert (handed.order.pk, handed.order.drink_external_id, handed.order.size, handed.order.amount) == (
        stored.order.pk,
        stored.order.drink_external_id,
        stored.order.size,
        stored.order.amount,
    )
    assert (handed.order.merchant_id, handed.order.device.external_id, handed.order.device.code) == (
        stored.order.merchant_id,
        stored.order.device.external_id,
        stored.order.device.code,
    )


@pytest.mark.django_db
def test_a_delivery_that_does_not_pay_a_pending_order_is_left_to_the_general_path(client: Client, shop, sims) -> None:
    """An expired order (a late payment: refunded by the general path, PAY-7), a canceled payment, a
    delivery already processed: the statement changes nothing and says so."""
    late = _stored(client, shop, sims, shop.mqtt_device)
    Order.objects.filter(pk=late.pk).update(status=OrderStatus.NOT_PAID)
    canceled = _stored(client, shop, sims, shop.mqtt_device, event="payment.canceled")
    done = _stored(client, shop, sims, shop.mqtt_device)
    with mock.patch("payments.services.payments.brew_publish"):
        assert webhook_process(delivery_id=_delivery(done).pk) == "paid"
    before = {order.pk: _left(order) for order in (late, canceled, done)}
    for order in (late, canceled, done):
        assert pay_at_once(delivery_id=_delivery(order).pk) is None
        assert _left(order) == before[order.pk]
    # The general path then does what it always did: the late payment is given back, never brewed.
    with mock.patch("payments.services.payments.money_back") as money_back:
        assert webhook_process(delivery_id=_delivery(late).pk) == "late"
    money_back.assert_called_once()
    assert not BrewCommand.objects.filter(order=late).exists()


@pytest.mark.django_db
def test_a_statement_that_fails_changes_nothing_and_keeps_the_callers_transaction(client: Client, shop, sims) -> None:
    """A constraint the statement runs into (here: a command already there for a pending order)
    rolls all of it back, to a savepoint inside a caller's transaction, which stays usable."""
    order = _stored(client, shop, sims, shop.mqtt_device)
    BrewCommand.objects.create(order=order, channel=shop.mqtt_device.channel)
    before = _left(order)
    assert connection.in_atomic_block  # the test's transaction
    assert pay_at_once(delivery_id=_delivery(order).pk) is None
    assert _left(order) == before  # and the transaction still answers


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_on_one_delivery_make_one_brew(client: Client, shop, sims) -> None:
    """Two workers given the same delivery at the same moment (a redelivered message): the delivery's
    lock makes the second see it processed — one command, two events, one attempt counted."""
    order = _stored(client, shop, sims, shop.mqtt_device)
    delivery_id = _delivery(order).pk
    results = at_once(lambda _: pay_at_once(delivery_id=delivery_id), 2)
    assert sum(r is not None for r in results) == 1
    assert BrewCommand.objects.filter(order=order).count() == 1
    assert OrderEvent.objects.filter(order=order, kind="transition", to_status=OrderStatus.MAKE_PENDING).count() == 1
    delivery = _delivery(order)
    assert (delivery.status, delivery.attempts) == (InboxStatus.PROCESSED, 1)


@pytest.mark.django_db(transaction=True)
def test_in_autocommit_the_statement_commits_by_itself(client: Client, shop, sims) -> None:
    """In a task (no transaction open) the one statement is the transaction: nothing is left open,
    and another connection sees the command at once."""
    order = _stored(client, shop, sims, shop.mqtt_device)
    delivery_id = _delivery(order).pk
    with CaptureQueriesContext(connection) as q:
        command = pay_at_once(delivery_id=delivery_id)
    assert command is not None and not connection.in_atomic_block
    assert [query["sql"].split()[0] for query in q.captured_queries] == ["WITH"]  # no BEGIN / COMMIT

    seen: list[bool] = []

    def other() -> None:
        try:
            seen.append(BrewCommand.objects.filter(pk=command.pk, status=BrewCommand.Status.SENDING).exists())
        finally:
            connections.close_all()

    thread = threading.Thread(target=other)
    thread.start()
    thread.join(30)
    assert seen == [True]


@pytest.mark.django_db
def test_a_one_stage_payment_applied_at_once_is_counted_in_the_revenue_rollup(client: Client, shop, sims) -> None:
    """The rollup's statement triggers (overview, OWN-1) see the payment's move made inside the one
    statement as they see an ORM update: the figure kept equals the figure rebuilt from the tables."""
    from overview.models import RevenueDay
    from overview.services import revenue_rebuild

    def figures() -> dict[tuple[Any, ...], tuple[int, Any]]:
        rows = RevenueDay.objects.filter(merchant=shop.merchant)
        return {(r.day, r.channel, r.kind): (r.count, r.amount) for r in rows if r.count or r.amount}

    shop.account.two_stage = False
    shop.account.save()
    order = _stored(client, shop, sims, shop.mqtt_device, event="payment.succeeded")
    assert _delivery(order).verified_status == Payment.Status.SUCCEEDED
    assert figures() == {}
    with mock.patch("payments.services.payments.brew_publish"):
        command = pay_at_once(delivery_id=_delivery(order).pk)
    assert command is not None
    kept = figures()
    assert [(kind, count) for (_, channel, kind), (count, _) in kept.items()] == [("sale", 1)]
    RevenueDay.objects.filter(merchant=shop.merchant).delete()
    revenue_rebuild(merchant_id=shop.merchant.pk)
    assert figures() == kept
