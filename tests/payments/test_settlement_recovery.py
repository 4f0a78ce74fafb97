"""Issue 8, points 1 and 2 (money side): no capture, cancel or refund lost to a crash or a lost
answer, and no drink brewed twice when the other side de-duplicates nothing (SPEC PAY-8, REL-1).

Counts are taken at the simulators: ``operations`` lists every capture/confirm, cancel and refund a
provider really applied; ``brew_requests`` every brew request that reached Tmetr.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from core.exceptions import TransientError
from payments.models import BrewCommand, Order, OrderStatus, Payment, Refund
from payments.services import brew, settlement
from payments.services.orders import order_create
from payments.services.payments import payment_apply_status
from tests.factories import UserFactory
from tests.support.waiting import wait_for

Settlement = Payment.Settlement
OP_NAMES = {("yookassa", "capture"): "capture", ("tbank", "capture"): "confirm"}


def _sim(sims, provider: str):
    return sims.yookassa if provider == "yookassa" else sims.tbank


def _pay(sims, order: Order, provider: str) -> str:
    """The buyer pays at the provider; returns our normalised status (what a verified webhook applies)."""
    pid = order.payment.provider_payment_id
    if provider == "yookassa":
        one_stage = not Payment.objects.get(order=order).two_stage
        return sims.yookassa.pay(pid, method="sbp" if one_stage else "bank_card")["status"]
    status = sims.tbank.pay(pid)["Status"]
    return {"AUTHORIZED": "waiting_for_capture", "CONFIRMED": "succeeded"}[status]


def _order(shop, provider: str, op: str, *, mqtt: bool = False) -> Order:
    """An order whose settlement will be ``op``: capture (brewed, two-stage), cancel (failed brew of a
    hold) or refund (failed brew of a one-stage payment)."""
    shop.account.two_stage = op != "refund"
    shop.account.save()
    device = shop.tbank_device if provider == "tbank" else (shop.mqtt_device if mqtt else shop.device)
    return order_create(device=device, drink=shop.drink, size="small").order


def _final(order: Order, op: str) -> bool:
    payment = Payment.objects.get(order=order)
    if op == "capture":
        return payment.settlement == Settlement.CAPTURED
    return (
        payment.settlement == Settlement.RETURNED
        and Refund.objects.filter(payment=payment, status="succeeded").exists()
    )


def _assert_settled_once(sims, provider: str, order: Order, op: str) -> None:
    pid = order.payment.provider_payment_id
    name = OP_NAMES.get((provider, op), op if provider == "yookassa" else "cancel")
    assert _sim(sims, provider).state["operations"] == [(name, pid)]
    payment = Payment.objects.get(order=order)
    if op == "capture":
        assert payment.settlement == Settlement.CAPTURED and payment.status == Payment.Status.SUCCEEDED
        assert not Refund.objects.filter(payment=payment).exists()
        remote = {
            "yookassa": lambda: sims.yookassa.state["payments"][pid]["status"],
            "tbank": lambda: sims.tbank.state["payments"][pid]["Status"],
        }[provider]()
        assert remote in ("succeeded", "CONFIRMED")
    else:
        refund = Refund.objects.get(payment=payment)
        assert refund.status == Refund.Status.SUCCEEDED and refund.kind == op
        assert payment.settlement == Settlement.RETURNED
        if provider == "tbank":
            assert sims.tbank.state["payments"][pid]["Status"] == ("REVERSED" if op == "cancel" else "REFUNDED")
        elif op == "cancel":
            assert sims.yookassa.state["payments"][pid]["status"] == "canceled"
        else:
            assert len(sims.yookassa.state["refunds"]) == 1


# --- 1. worker killed between the machine's acknowledgement and the provider call -----------------

CRASHES = [
    # (provider, settlement, when the worker dies): "before" — the provider call hangs and is never
    # applied; "after" — the provider applied it, the worker dies waiting for the answer.
    ("yookassa", "capture", "before"),
    ("yookassa", "cancel", "before"),
    ("yookassa", "refund", "after"),
    ("tbank", "capture", "after"),
    ("tbank", "cancel", "before"),
    ("tbank", "refund", "after"),
]


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("provider", "op", "when"), CRASHES, ids=["-".join(c) for c in CRASHES])
def test_settlement_task_killed_is_redriven_by_the_sweep_exactly_once(
    request, shop, sims, start_worker, provider: str, op: str, when: str
) -> None:
    # The message of a task whose whole worker was SIGKILLed is not handed out again for an hour
    # (the visibility timeout): only the sweep can finish the job within the test.
    env = sims.env(CELERY_VISIBILITY_TIMEOUT="3600", PAYMENTS_SETTLEMENT_GRACE_SECONDS="1")
    first = start_worker(extra_env=env, concurrency=1)
    mqtt = provider == "yookassa"
    if mqtt:
        machine = request.getfixturevalue("machine")
        request.getfixturevalue("ack_listener")  # applies the machine's acknowledgements, as in production
        machine.mode = "success" if op == "capture" else "failure"
    elif op != "capture":
        sims.tmetr.state["fail_devices"].add(shop.tbank_device.external_id)
    order = _order(shop, provider, op, mqtt=mqtt)
    sim = _sim(sims, provider)
    if when == "before":
        sim.faults.hang_next, sim.faults.hang_seconds = 1, 8  # held, then dropped without being applied
    else:
        sim.faults.lose_answer_next, sim.faults.lose_answer_mode, sim.faults.hang_seconds = 1, "hang", 8
    payment_apply_status(payment_id=order.payment.pk, status=_pay(sims, order, provider), source="test")

    if when == "before":
        wait_for(lambda: sim.faults.hang_next == 0, what="settlement call in flight", timeout=40)
    else:
        wait_for(lambda: sim.lost_answers == 1, what="settlement applied, answer pending", timeout=40)
    first.kill()
    expected_order = OrderStatus.SUCCESSFUL if op == "capture" else OrderStatus.FAILED
    assert Order.objects.get(pk=order.pk).status == expected_order  # the acknowledgement was applied
    assert not _final(order, op)  # ... and the settlement was left behind by the crash
    assert len(sim.state["operations"]) == (1 if when == "after" else 0)

    start_worker(extra_env=env, concurrency=1)
    from payments.tasks import settlements_sweep

    deadline = time.monotonic() + 60
    while not _final(order, op):
        assert time.monotonic() < deadline, f"not settled: {Payment.objects.get(order=order).settlement}"
        settlements_sweep.delay().get(timeout=30)  # the periodic job, driven by the test
        time.sleep(0.2)
    _assert_settled_once(sims, provider, order, op)
    if mqtt:
        assert len(request.getfixturevalue("machine").brewed) == (1 if op == "capture" else 0)
    else:
        assert sims.tmetr.state["brew_requests"] == 1


# --- 2a. Tmetr de-duplicates nothing: a command with an unknown outcome is never resent ------------


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_worker_killed_mid_tmetr_brew_never_brews_twice(live_server, shop, sims, start_worker) -> None:
    import requests

    shop.device.ack_timeout_seconds = 3
    shop.device.save()
    env = sims.env(CELERY_VISIBILITY_TIMEOUT="3")  # the killed task's message comes back within the test
    first = start_worker(extra_env=env, concurrency=1)
    order = order_create(device=shop.device, drink=shop.drink, size="small").order  # Tmetr channel
    pid = order.payment.provider_payment_id
    sims.tmetr.faults.latency_ms = 4000  # the brew call is in flight when the worker dies
    sims.yookassa.pay(pid)
    body = sims.yookassa.notification("payment.waiting_for_capture", sims.yookassa.state["payments"][pid])
    assert requests.post(f"{live_server.url}/webhooks/yookassa/", json=body, timeout=30).status_code == 200
    wait_for(lambda: sims.tmetr.request_count >= 1, what="brew request in flight", timeout=40)
    first.kill()
    assert BrewCommand.objects.get(order=order).status == BrewCommand.Status.SENDING  # outcome unknown
    sims.tmetr.faults.latency_ms = 0
    second = start_worker(extra_env=env, concurrency=1)
    # The killed message runs again (a resend would brew a second drink). Redis hands it out again
    # only after the visibility timeout, at kombu's next restore scan (which may be ~100 s away), and
    # the delivery sweep would re-enqueue it too: enqueue the same delivery as either of them does.
    from payments.models import WebhookDelivery
    from payments.tasks import brew_process_delivery

    brew_process_delivery.delay(WebhookDelivery.objects.get(payment__order=order).pk)
    wait_for(
        lambda: re.search(r"brew_process_delivery\[[^\]]+\] succeeded", second.log()) is not None,
        timeout=60,
        what="the killed task's delivery processed again",
    )
    from payments.tasks import brews_fail_late

    # ... and the late-command sweep fails the command instead of resending it: money back.
    wait_for(
        lambda: (
            brews_fail_late.delay().get(timeout=20) >= 0 and Order.objects.get(pk=order.pk).status == OrderStatus.FAILED
        ),
        what="order failed",
        timeout=40,
    )
    wait_for(lambda: _final(order, "cancel"), what="money back", timeout=40)
    # At most one brew request ever reached the machine (whether the one in flight when the worker
    # died was applied depends on when the simulator noticed the dropped connection), and it was sent once.
    assert sims.tmetr.state["brew_requests"] <= 1
    assert sims.tmetr.request_count == 1
    assert len(sims.tmetr.state["made"]) <= 1
    assert sims.yookassa.state["operations"] == [("cancel", pid)]
    assert BrewCommand.objects.get(order=order).attempts == 1


@pytest.mark.django_db
def test_tmetr_command_left_sending_is_failed_not_resent(shop, sims) -> None:
    """The rule without a worker: a redelivered send and the sweep both leave a ``sending`` Tmetr
    command alone until its deadline, then fail it and give the money back (no second request)."""
    order = order_create(device=shop.device, drink=shop.drink, size="small").order
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, "yookassa"), source="test", enqueue_brew=False
    )
    command = BrewCommand.objects.get(order=order)
    assert brew.brew_claim(command=command)  # the sender claimed it and died before Tmetr's answer
    assert brew.brew_send(command_id=command.pk) == "noop"  # a redelivered task
    assert brew.brews_fail_late() == (0, [])  # not past its deadline yet
    assert brew.brews_fail_late(now=timezone.now() + timedelta(hours=1)) == (1, [])
    assert sims.tmetr.state["brew_requests"] == 0
    command.refresh_from_db()
    assert command.status == BrewCommand.Status.FAILED and "not resent" in command.error
    refund = Refund.objects.get(payment__order=order)
    assert settlement.refund_execute(refund_id=refund.pk) == "succeeded"
    assert sims.yookassa.state["operations"] == [("cancel", order.payment.provider_payment_id)]


@pytest.mark.django_db
def test_mqtt_command_left_sending_is_still_resent(shop, sims) -> None:
    """MQTT devices de-duplicate on command_id (API_CONTRACTS.md): there a resend stays the rule."""
    order = order_create(device=shop.mqtt_device, drink=shop.drink, size="small").order
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, "yookassa"), source="test", enqueue_brew=False
    )
    command = BrewCommand.objects.get(order=order)
    assert brew.brew_claim(command=command)
    assert brew.brews_fail_late(now=timezone.now() + timedelta(hours=1)) == (0, [command.pk])


@pytest.mark.django_db
def test_duplicate_payments_and_sends_make_one_tmetr_brew_request(shop, sims) -> None:
    """The normal flow against a machine that de-duplicates nothing: one request, one drink."""
    order = order_create(device=shop.device, drink=shop.drink, size="small").order
    status = _pay(sims, order, "yookassa")
    for _ in range(3):  # duplicate notifications
        payment_apply_status(payment_id=order.payment.pk, status=status, source="test", enqueue_brew=False)
    command = BrewCommand.objects.get(order=order)
    assert [brew.brew_send(command_id=command.pk) for _ in range(3)] == ["done", "noop", "noop"]
    assert sims.tmetr.state["brew_requests"] == 1 and sims.tmetr.state["made"] == [str(order.pk)]
    assert Order.objects.get(pk=order.pk).status == OrderStatus.SUCCESSFUL


def test_tmetr_simulator_brews_every_command_as_the_contract_says(sims) -> None:
    import requests

    command = [{"deviceId": "d1", "orderUuid": "o-1", "drinkUuid": "2", "size": "small", "price": 100}]
    url = f"{sims.urls['TMETR_API_URL']}/api/commander/v1/command/make"
    assert [requests.post(url, json=command, timeout=5).status_code for _ in range(2)] == [200, 200]
    assert sims.tmetr.state["made"] == ["o-1", "o-1"] and sims.tmetr.state["brew_requests"] == 2


# --- 2b. applied, then the answer was lost --------------------------------------------------------


def _settle_due(order: Order, op: str, *, brewed: bool) -> Payment:
    """Pay, claim and finish the brew in-process: the settlement is left due (its task never runs)."""
    command = BrewCommand.objects.get(order=order)
    assert brew.brew_claim(command=command)
    brew.brew_finish(command_id=command.pk, ok=brewed, error="" if brewed else "device error")
    payment = Payment.objects.get(order=order)
    assert payment.settlement == (Settlement.CAPTURING if op == "capture" else Settlement.RETURNING)
    return payment


def _run(payment: Payment, op: str) -> str:
    if op == "capture":
        return settlement.capture_execute(payment_id=payment.pk)
    return settlement.refund_execute(refund_id=Refund.objects.get(payment=payment).pk)


@pytest.mark.django_db
@pytest.mark.parametrize("mode", ["drop", "5xx", "hang"])
@pytest.mark.parametrize("op", ["capture", "cancel", "refund"])
@pytest.mark.parametrize("provider", ["yookassa", "tbank"])
def test_answer_lost_after_the_provider_applied_it(shop, sims, settings, provider: str, op: str, mode: str) -> None:
    settings.YOOKASSA_TIMEOUT_SECONDS = settings.HTTP_READ_TIMEOUT = 1.0
    order = _order(shop, provider, op)
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, provider), source="test", enqueue_brew=False
    )
    payment = _settle_due(order, op, brewed=op == "capture")
    sim = _sim(sims, provider)
    sim.faults.lose_answer_next, sim.faults.lose_answer_mode, sim.faults.hang_seconds = 1, mode, 3
    try:
        _run(payment, op)  # T-Bank's client repeats a lost call itself (same ExternalRequestId)
    except TransientError:
        _run(payment, op)  # what the task's retry or the settlement sweep does
    assert sim.lost_answers == 1
    _assert_settled_once(sims, provider, order, op)
    _run(payment, op)  # yet another run (a late duplicate task) changes nothing
    _assert_settled_once(sims, provider, order, op)


@pytest.mark.django_db
def test_yookassa_simulator_honours_idempotence_keys(shop, sims) -> None:
    from payments.services import providers

    order = _order(shop, "yookassa", "refund")
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, "yookassa"), source="test", enqueue_brew=False
    )
    payment = Payment.objects.select_related("order").get(order=order)
    first = providers.give_back(payment, kind="refund")
    assert providers.give_back(payment, kind="refund") == first  # same key → the first answer, no 2nd refund
    assert len(sims.yookassa.state["refunds"]) == 1
    client = providers.yookassa(shop.account)
    other = client.refund(payment.provider_payment_id or "", amount=payment.amount, key="another-key")
    assert other.id != first and len(sims.yookassa.state["refunds"]) == 2  # a new key is a new refund


@pytest.mark.django_db
def test_tbank_cancel_is_keyed_by_external_request_id(shop, sims) -> None:
    from core.exceptions import IntegrationError
    from payments.services import providers

    order = _order(shop, "tbank", "cancel")
    _pay(sims, order, "tbank")
    client = providers.tbank(shop.account)
    pid = order.payment.provider_payment_id or ""
    first = client.cancel(pid, external_request_id="r-1")
    assert client.cancel(pid, external_request_id="r-1") == first  # the same request: answered again
    with pytest.raises(IntegrationError):
        client.cancel(pid, external_request_id="r-2")  # a different one: nothing left to cancel
    assert sims.tbank.state["operations"] == [("cancel", pid)]


@pytest.mark.django_db
@pytest.mark.parametrize("op", ["cancel", "refund"])
def test_tbank_late_payment_is_given_back_once(shop, sims, op: str) -> None:
    """Paid at T-Bank after the order expired: never brewed, the hold cancelled / the payment refunded."""
    order = _order(shop, "tbank", op)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.NOT_PAID)
    status = _pay(sims, order, "tbank")
    assert payment_apply_status(payment_id=order.payment.pk, status=status, source="test") == "late"
    refund = Refund.objects.get(payment__order=order)
    assert refund.kind == op
    sims.tbank.faults.lose_answer_next, sims.tbank.faults.lose_answer_mode = 1, "5xx"
    settlement.refund_execute(refund_id=refund.pk)
    _assert_settled_once(sims, "tbank", order, op)
    assert not BrewCommand.objects.exists() and sims.tmetr.state["brew_requests"] == 0


# --- the sweep and the admin -----------------------------------------------------------------------


def _age(payment: Payment, seconds: int = 120) -> None:
    Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.django_db
def test_sweep_waits_for_the_grace_period_then_captures(shop, sims, settings) -> None:
    settings.PAYMENTS_SETTLEMENT_GRACE_SECONDS = 60
    order = _order(shop, "yookassa", "capture")
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, "yookassa"), source="test", enqueue_brew=False
    )
    payment = _settle_due(order, "capture", brewed=True)
    assert settlement.settlements_sweep() == {}  # its own task may still be running
    _age(payment)
    assert settlement.settlements_sweep() == {"captured": 1}
    _assert_settled_once(sims, "yookassa", order, "capture")
    _age(payment)
    assert settlement.settlements_sweep() == {}


@pytest.mark.django_db
def test_sweep_returns_a_pending_refund_never_attempted(shop, sims) -> None:
    order = _order(shop, "yookassa", "cancel")
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, "yookassa"), source="test", enqueue_brew=False
    )
    payment = _settle_due(order, "cancel", brewed=False)
    assert Refund.objects.get(payment=payment).attempts == 0
    _age(payment)
    assert settlement.settlements_sweep() == {"succeeded": 1}
    _assert_settled_once(sims, "yookassa", order, "cancel")


@pytest.mark.django_db
def test_sweep_settles_an_order_whose_settlement_never_started(shop, sims) -> None:
    order = _order(shop, "yookassa", "cancel")
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, "yookassa"), source="test", enqueue_brew=False
    )
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.FAILED)  # outcome applied, money not moved
    payment = Payment.objects.get(order=order)
    _age(payment)
    assert settlement.settlements_sweep() == {"succeeded": 1}
    _assert_settled_once(sims, "yookassa", order, "cancel")


@pytest.mark.django_db
def test_capture_of_a_hold_canceled_at_the_provider_is_reconciled(shop, sims) -> None:
    order = _order(shop, "yookassa", "capture")
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, "yookassa"), source="test", enqueue_brew=False
    )
    payment = _settle_due(order, "capture", brewed=True)
    sims.yookassa.state["payments"][payment.provider_payment_id]["status"] = "canceled"  # the hold lapsed
    assert settlement.capture_execute(payment_id=payment.pk) == "capture_failed"
    payment.refresh_from_db()
    assert payment.settlement == Settlement.CAPTURE_FAILED and payment.status == Payment.Status.CANCELED
    _age(payment)
    assert settlement.settlements_sweep() == {}  # final: not re-driven again


@pytest.mark.django_db
def test_refused_refund_fails_visibly_and_staff_retry_it_from_the_admin(client: Client, shop, sims) -> None:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    order = _order(shop, "yookassa", "cancel")
    payment_apply_status(
        payment_id=order.payment.pk, status=_pay(sims, order, "yookassa"), source="test", enqueue_brew=False
    )
    payment = _settle_due(order, "cancel", brewed=False)
    _age(payment)
    url = reverse("admin:payments_payment_changelist")
    assert payment.provider_payment_id in client.get(url + "?stuck=yes").content.decode()
    good = shop.account.yookassa_secret_key
    shop.account.yookassa_secret_key = "wrong"  # a 401: permanent, the return fails
    shop.account.save()
    client.post(url, {"action": "retry_settlement", "_selected_action": [str(payment.pk)]})
    payment.refresh_from_db()
    assert payment.settlement == Settlement.RETURN_FAILED
    assert payment.provider_payment_id in client.get(url + "?stuck=failed").content.decode()
    assert payment.provider_payment_id not in client.get(url + "?stuck=yes").content.decode()
    shop.account.yookassa_secret_key = good  # staff fixed the credentials, then retry
    shop.account.save()
    response = client.post(url, {"action": "retry_settlement", "_selected_action": [str(payment.pk)]}, follow=True)
    assert "succeeded: 1" in response.content.decode()
    _assert_settled_once(sims, "yookassa", order, "cancel")


@pytest.mark.django_db
def test_settlement_writes_follow_the_state_tables(shop, sims) -> None:
    """A settled payment cannot be moved back by a stray writer: the tables have no such move."""
    from core.transitions import TransitionNotAllowed

    assert settlement.PAYMENT_SETTLEMENT.terminal == {Settlement.RETURNED, Settlement.CAPTURE_FAILED}
    with pytest.raises(TransitionNotAllowed):
        settlement.PAYMENT_SETTLEMENT.advance(pk=1, to=Settlement.CAPTURING, from_=Settlement.CAPTURED)
    with pytest.raises(TransitionNotAllowed):
        settlement.REFUND_STATUS.advance(pk=1, to=Refund.Status.PENDING, from_=Refund.Status.SUCCEEDED)


def test_settlement_sweep_is_a_periodic_job_that_expires() -> None:
    from core.scheduling import registered_jobs

    job = {j.name: j for j in registered_jobs()}["payments.settlements_sweep"]
    assert job.task == "payments.tasks.settlements_sweep"
    assert job.every_seconds and job.expires_seconds and job.expires_seconds < job.every_seconds
