"""PAY-8 / REL-1 with the real parts: a Celery worker process on Redis, Mosquitto, the MQTT ack listener,
webhooks over HTTP (live server). Exactly one brew or one refund, whatever arrives twice or crashes."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import requests
from django.utils import timezone

from payments.models import BrewCommand, Order, OrderStatus, Payment, Refund, WebhookDelivery
from payments.services.orders import order_create
from payments.tasks import DELIVERY_RETRY_SECONDS
from tests.support.concurrency import at_once
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

# A stored notification is applied within the task's retry bound (payments.tasks.DELIVERY_RETRY_SECONDS,
# no beat runs here), plus a minute for the attempts themselves on a machine whose cores are shared.
DELIVERY_WAIT = DELIVERY_RETRY_SECONDS + 60


def all_deliveries_processed() -> bool:
    """Every stored notification has been applied or ignored: nothing more can start a brew."""
    return WebhookDelivery.objects.exists() and not WebhookDelivery.objects.filter(processed_at__isnull=True).exists()


def deadline_passed(order: Order) -> bool:
    return BrewCommand.objects.filter(order=order, deadline__lt=timezone.now()).exists()


def status_of(order: Order) -> str:
    return Order.objects.values_list("status", flat=True).get(pk=order.pk)


def post_concurrently(url: str, body: dict, n: int) -> list[int]:
    return at_once(lambda _: requests.post(url, json=body, timeout=30).status_code, n)


def test_twenty_concurrent_duplicate_notifications_brew_once(
    live_server, shop, sims, machine, ack_listener, start_worker
) -> None:
    start_worker(extra_env=sims.env(), concurrency=4)
    order = order_create(device=shop.mqtt_device, drink=shop.drink, size="medium").order
    payment_id = order.payment.provider_payment_id
    sims.yookassa.pay(payment_id)  # card hold → waiting_for_capture
    body = sims.yookassa.notification("payment.waiting_for_capture", sims.yookassa.state["payments"][payment_id])
    codes = post_concurrently(f"{live_server.url}/webhooks/yookassa/", body, 20)
    assert codes == [200] * 20
    wait_for(lambda: status_of(order) == OrderStatus.SUCCESSFUL, what="successful order", timeout=30)
    wait_for(
        lambda: Payment.objects.get(order=order).settlement == Payment.Settlement.CAPTURED, what="capture", timeout=30
    )
    assert len(machine.brewed) == 1
    assert {c["order_id"] for c in machine.received} == {str(order.pk)}
    assert BrewCommand.objects.filter(order=order).count() == 1
    assert WebhookDelivery.objects.count() == 1
    assert not Refund.objects.exists()
    assert sims.yookassa.state["payments"][payment_id]["status"] == "succeeded"


def test_out_of_order_and_mixed_events_concurrently(
    live_server, shop, sims, machine, ack_listener, start_worker
) -> None:
    start_worker(extra_env=sims.env(), concurrency=4)
    order = order_create(device=shop.mqtt_device, drink=shop.drink, size="small").order
    payment_id = order.payment.provider_payment_id
    sims.yookassa.pay(payment_id, method="sbp")  # one-stage → succeeded
    stored = sims.yookassa.state["payments"][payment_id]
    late_hold = sims.yookassa.notification("payment.waiting_for_capture", {**stored, "status": "waiting_for_capture"})
    succeeded = sims.yookassa.notification("payment.succeeded", stored)
    url = f"{live_server.url}/webhooks/yookassa/"
    threads = [
        threading.Thread(target=requests.post, args=(url,), kwargs={"json": b, "timeout": 30})
        for b in [succeeded, late_hold] * 5
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    wait_for(lambda: status_of(order) == OrderStatus.SUCCESSFUL, what="successful order", timeout=30)
    wait_for(all_deliveries_processed, timeout=DELIVERY_WAIT, what="every delivery processed")
    wait_for(
        lambda: Payment.objects.get(order=order).settlement == Payment.Settlement.CAPTURED, what="kept", timeout=30
    )
    assert len(machine.brewed) == 1 and not Refund.objects.exists()


def test_late_payment_after_expiry_is_returned_never_brewed(
    live_server, shop, sims, machine, ack_listener, start_worker
) -> None:
    start_worker(extra_env=sims.env())
    order = order_create(device=shop.mqtt_device, drink=shop.drink, size="small").order
    Order.objects.filter(pk=order.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    from payments.tasks import orders_expire

    assert orders_expire.delay().get(timeout=20) == 1
    payment_id = order.payment.provider_payment_id
    sims.yookassa.pay(payment_id)
    body = sims.yookassa.notification("payment.waiting_for_capture", sims.yookassa.state["payments"][payment_id])
    assert post_concurrently(f"{live_server.url}/webhooks/yookassa/", body, 5) == [200] * 5
    wait_for(
        lambda: Refund.objects.filter(payment__order=order, status="succeeded").exists(), what="refund", timeout=30
    )
    assert status_of(order) == OrderStatus.NOT_PAID
    assert sims.yookassa.state["payments"][payment_id]["status"] == "canceled"
    assert not machine.received and not BrewCommand.objects.exists()
    assert Refund.objects.count() == 1


@pytest.mark.parametrize("mode", ["failure", "silence"])
def test_brew_failure_or_silence_gives_money_back(
    live_server, shop, sims, machine, ack_listener, start_worker, mode: str
) -> None:
    machine.mode = mode
    shop.mqtt_device.ack_timeout_seconds = 2
    shop.mqtt_device.save()
    start_worker(extra_env=sims.env())
    order = order_create(device=shop.mqtt_device, drink=shop.drink, size="small").order
    payment_id = order.payment.provider_payment_id
    sims.yookassa.pay(payment_id)
    body = sims.yookassa.notification("payment.waiting_for_capture", sims.yookassa.state["payments"][payment_id])
    assert requests.post(f"{live_server.url}/webhooks/yookassa/", json=body, timeout=30).status_code == 200
    if mode == "silence":
        wait_for(
            lambda: BrewCommand.objects.filter(order=order, status="sent").exists(), what="command sent", timeout=30
        )
        wait_for(lambda: deadline_passed(order), what="the acknowledgement deadline", timeout=30)
        from payments.tasks import brews_fail_late

        assert brews_fail_late.delay().get(timeout=20) == 1  # the periodic sweep
    wait_for(
        lambda: Refund.objects.filter(payment__order=order, status="succeeded").exists(), what="money back", timeout=30
    )
    assert status_of(order) == OrderStatus.FAILED
    assert sims.yookassa.state["payments"][payment_id]["status"] == "canceled"
    assert not machine.brewed


def test_tbank_one_stage_duplicates_brew_once_and_keep_the_money(live_server, shop, sims, start_worker) -> None:
    shop.account.two_stage = False  # PayType=O: AUTHORIZED then CONFIRMED, refunded if the brew fails
    shop.account.save()
    start_worker(extra_env=sims.env(), concurrency=4)
    order = order_create(device=shop.tbank_device, drink=shop.drink, size="small").order
    payment_id = order.payment.provider_payment_id
    sims.tbank.pay(payment_id)  # notifications go nowhere in this test (no NotificationURL reachable)
    stored = sims.tbank.state["payments"][payment_id]
    authorized = sims.tbank.notification({**stored, "Status": "AUTHORIZED"})
    confirmed = sims.tbank.notification(stored)
    url = f"{live_server.url}/webhooks/tbank/"
    answers: list[str] = []

    def send(body: dict) -> None:
        answers.append(requests.post(url, json=body, timeout=30).text)

    threads = [threading.Thread(target=send, args=(b,)) for b in [authorized, confirmed] * 10]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert answers == ["OK"] * 20
    wait_for(lambda: status_of(order) == OrderStatus.SUCCESSFUL, what="successful order", timeout=30)
    wait_for(
        lambda: Payment.objects.get(order=order).settlement == Payment.Settlement.CAPTURED, what="kept", timeout=30
    )
    wait_for(all_deliveries_processed, timeout=DELIVERY_WAIT, what="every delivery processed")
    assert len(sims.tmetr.state["made"]) == 1 and len(sims.tmetr.state["commands"]) == 1
    assert not Refund.objects.exists()
    assert WebhookDelivery.objects.count() == 2  # AUTHORIZED and CONFIRMED, each stored once
