"""Forged YooKassa notifications cannot turn this server into a caller of the merchant's YooKassa
account (SPEC PAY-1, REL-3): the sender check is on in production, and what passes it costs at most
one unconfirmed provider read per payment id per interval."""

from __future__ import annotations

import pytest
from django.test import Client

from payments.models import Order, OrderStatus, WebhookDelivery
from tests.payments.test_flows import _buy

pytestmark = [pytest.mark.django_db(transaction=True)]

YOOKASSA_SENDER = "185.71.76.10"  # inside YooKassa's published ranges
FORGER = "203.0.113.66"


def _notify(sims, order: Order, event: str, *, ip: str, status: str | None = None, **headers: str) -> int:
    payment = dict(sims.yookassa.state["payments"][order.payment.provider_payment_id])
    if status:
        payment["status"] = status
    body = sims.yookassa.notification(event, payment)
    client = Client(REMOTE_ADDR=ip, **headers)
    return client.post("/webhooks/yookassa/", body, content_type="application/json").status_code


@pytest.fixture
def production_check(settings) -> None:
    # What production settings give when DEBUG is off (tests/core/test_abuse_settings.py proves it).
    settings.YOOKASSA_CHECK_IP = True


def test_forged_notification_from_a_foreign_address_costs_no_provider_call(
    client: Client, shop, sims, eager, production_check
) -> None:
    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)  # real and paid: a forger may know the id
    before = sims.yookassa.request_count
    for _ in range(50):
        assert _notify(sims, order, "payment.waiting_for_capture", ip=FORGER) == 403
    assert sims.yookassa.request_count == before
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING and not WebhookDelivery.objects.exists()


def test_a_client_written_forwarded_header_does_not_pass_the_check(
    client: Client, shop, sims, eager, production_check
) -> None:
    order = _buy(client, shop)
    before = sims.yookassa.request_count
    status = _notify(sims, order, "payment.succeeded", ip=FORGER, HTTP_X_FORWARDED_FOR=YOOKASSA_SENDER)
    assert status == 403 and sims.yookassa.request_count == before


def test_yookassa_behind_a_trusted_proxy_is_accepted(client: Client, shop, sims, eager, production_check, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)
    assert _notify(sims, order, "payment.waiting_for_capture", ip="127.0.0.1", HTTP_X_FORWARDED_FOR=FORGER) == 403
    status = _notify(sims, order, "payment.waiting_for_capture", ip="127.0.0.1", HTTP_X_FORWARDED_FOR=YOOKASSA_SENDER)
    assert status == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL


def test_forged_notifications_past_the_check_cost_one_provider_read_per_payment_per_interval(
    client: Client, shop, sims, eager, settings
) -> None:
    # The worst case: the check is off (or the forger sends from inside YooKassa's ranges).
    settings.YOOKASSA_CHECK_IP = False
    order = _buy(client, shop)  # pending at the provider: every "succeeded" claim is false
    before = sims.yookassa.request_count
    statuses = [_notify(sims, order, "payment.succeeded", ip=FORGER, status="succeeded") for _ in range(50)]
    assert statuses[0] == 400 and set(statuses[1:]) == {429}
    assert sims.yookassa.request_count - before == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def test_a_confirmed_notification_gives_the_budget_back(client: Client, shop, sims, eager, settings) -> None:
    settings.YOOKASSA_CHECK_IP = False
    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id, method="sbp")  # one stage: succeeded at once
    assert _notify(sims, order, "payment.succeeded", ip=YOOKASSA_SENDER) == 200
    # A real later event of the same payment is still confirmed at once, and repeats cost nothing.
    before = sims.yookassa.request_count
    assert _notify(sims, order, "payment.waiting_for_capture", ip=YOOKASSA_SENDER, status="waiting_for_capture") == 200
    assert sims.yookassa.request_count - before == 1
    for _ in range(20):
        assert _notify(sims, order, "payment.succeeded", ip=FORGER) == 200
    assert sims.yookassa.request_count - before == 1
