"""Payment → brew → settle flows through the real views, clients and simulators (tasks run inline)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from payments.models import BrewCommand, Order, OrderStatus, Payment, Refund, WebhookDelivery
from payments.services.brew import brews_fail_late
from payments.services.orders import order_create, orders_expire
from payments.services.payments import payments_reconcile

pytestmark = [pytest.mark.django_db(transaction=True)]


def _buy(client: Client, shop, device=None, **extra) -> Order:
    device = device or shop.device
    response = client.post(f"/q/{device.code}/", {"drink": shop.drink.pk, "size": "small", **extra})
    assert response.status_code == 302, response.content[:500]
    order = Order.objects.get(device=device)
    assert response["Location"] == order.payment.confirmation_url
    return order


def _yk_notify(client: Client, sims, order: Order, event: str, status: str | None = None) -> int:
    payment = dict(sims.yookassa.state["payments"][order.payment.provider_payment_id])
    if status:
        payment["status"] = status
    body = sims.yookassa.notification(event, payment)
    return client.post("/webhooks/yookassa/", body, content_type="application/json").status_code


def test_menu_lists_drinks_and_prices(client: Client, shop) -> None:
    page = client.get(f"/q/{shop.device.code}/").content.decode()
    assert "Капучино" in page and "150 ₽" in page and "170 ₽" in page


def test_unknown_or_inactive_device_gets_friendly_error(client: Client, shop) -> None:
    response = client.get("/q/no-such-device/")
    assert response.status_code == 404 and "Автомат не найден" in response.content.decode()
    shop.merchant.is_active = False
    shop.merchant.save()
    assert client.get(f"/q/{shop.device.code}/").status_code == 404


def test_paid_card_hold_brews_over_tmetr_then_captures(client: Client, shop, sims, eager) -> None:
    order = _buy(client, shop)
    assert order.status == OrderStatus.PENDING
    created = sims.yookassa.state["payments"][order.payment.provider_payment_id]
    assert created["capture"] is False and created["metadata"] == {"order_id": str(order.pk)}
    sims.yookassa.pay(order.payment.provider_payment_id)  # card → waiting_for_capture
    assert _yk_notify(client, sims, order, "payment.waiting_for_capture") == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL
    assert list(sims.tmetr.state["made"]) == [str(order.pk)]
    command = sims.tmetr.state["commands"][0]
    assert command["deviceId"] == shop.device.external_id and command["size"] == "small" and command["price"] == 15000
    payment = Payment.objects.get(order=order)
    assert payment.settlement == Payment.Settlement.CAPTURED
    assert sims.yookassa.state["payments"][payment.provider_payment_id]["status"] == "succeeded"
    assert not Refund.objects.exists()
    # The status page and its JSON say so in Russian.
    assert client.get(f"/orders/{order.pk}/status.json").json()["status"] == "successful"
    assert "Напиток готов" in client.get(f"/orders/{order.pk}/").content.decode()


def test_duplicate_and_out_of_order_notifications_brew_once(client: Client, shop, sims, eager) -> None:
    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id, method="sbp")  # one-stage: succeeded at once
    for _ in range(3):
        assert _yk_notify(client, sims, order, "payment.succeeded") == 200
    # A stale waiting_for_capture arriving after succeeded is authentic but changes nothing.
    assert _yk_notify(client, sims, order, "payment.waiting_for_capture", status="waiting_for_capture") == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL
    assert len(sims.tmetr.state["commands"]) == 1
    assert BrewCommand.objects.count() == 1
    assert WebhookDelivery.objects.count() == 2  # succeeded + waiting_for_capture; duplicates not stored twice
    assert set(WebhookDelivery.objects.values_list("payment_id", flat=True)) == {order.payment.pk}


def test_forged_yookassa_notification_changes_nothing(client: Client, shop, sims, eager, caplog) -> None:
    order = _buy(client, shop)  # never paid at the provider
    assert _yk_notify(client, sims, order, "payment.succeeded", status="succeeded") == 400
    body = {"type": "notification", "event": "payment.succeeded", "object": {"id": "forged-id", "status": "succeeded"}}
    assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 400
    assert client.post("/webhooks/yookassa/", "not json", content_type="application/json").status_code == 400
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    assert not BrewCommand.objects.exists() and not WebhookDelivery.objects.exists()
    assert "rejected yookassa notification" in caplog.text


def test_notification_for_a_merchant_without_payment_account_is_a_clear_400(client: Client, shop, sims, eager) -> None:
    from payments.models import PaymentAccount

    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)
    PaymentAccount.objects.filter(merchant=order.merchant).delete()  # the owner removed the credentials
    response = client.post(
        "/webhooks/yookassa/",
        sims.yookassa.notification(
            "payment.waiting_for_capture", sims.yookassa.state["payments"][order.payment.provider_payment_id]
        ),
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["message"] == "the merchant has no payment account"
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING and not WebhookDelivery.objects.exists()


def test_delivery_stored_without_its_payment_link_is_still_applied(client: Client, shop, sims, eager) -> None:
    """Deliveries stored by code older than ``WebhookDelivery.payment`` (during a rolling deploy)."""
    from payments.services.payments import webhook_process

    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)
    pid = order.payment.provider_payment_id
    delivery = WebhookDelivery.objects.create(
        provider="yookassa",
        event_key=f"payment.waiting_for_capture:{pid}",
        event="payment.waiting_for_capture",
        provider_payment_id=pid,
        verified_status="waiting_for_capture",
    )
    assert webhook_process(delivery_id=delivery.pk) == "paid"
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL  # brewed over Tmetr (inline tasks) and captured


def test_canceled_payment_means_not_paid(client: Client, shop, sims, eager) -> None:
    order = _buy(client, shop)
    sims.yookassa.decline(order.payment.provider_payment_id)
    assert _yk_notify(client, sims, order, "payment.canceled") == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.NOT_PAID and not BrewCommand.objects.exists()


def test_late_payment_after_expiry_is_given_back_never_brewed(client: Client, shop, sims, eager) -> None:
    order = _buy(client, shop)
    with time_machine.travel(timezone.now() + timedelta(minutes=30)):
        assert orders_expire() == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.NOT_PAID
    assert client.get(f"/orders/{order.pk}/").status_code == 200
    sims.yookassa.pay(order.payment.provider_payment_id)  # the buyer pays anyway (card hold)
    assert _yk_notify(client, sims, order, "payment.waiting_for_capture") == 200  # 200: stop redelivery
    order.refresh_from_db()
    assert order.status == OrderStatus.NOT_PAID
    assert not BrewCommand.objects.exists() and not sims.tmetr.state["commands"]
    refund = Refund.objects.get(payment__order=order)
    assert refund.kind == "cancel" and refund.status == "succeeded"
    assert sims.yookassa.state["payments"][order.payment.provider_payment_id]["status"] == "canceled"


def test_one_stage_late_payment_is_refunded(client: Client, shop, sims, eager) -> None:
    order = _buy(client, shop)
    with time_machine.travel(timezone.now() + timedelta(minutes=30)):
        orders_expire()
    sims.yookassa.pay(order.payment.provider_payment_id, method="sbp")
    assert _yk_notify(client, sims, order, "payment.succeeded") == 200
    refund = Refund.objects.get(payment__order=order)
    assert refund.kind == "refund" and refund.status == "succeeded" and refund.provider_refund_id
    assert len(sims.yookassa.state["refunds"]) == 1


def test_brew_failure_gives_money_back(client: Client, shop, sims, eager) -> None:
    sims.tmetr.state["fail_devices"].add(shop.device.external_id)
    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)
    _yk_notify(client, sims, order, "payment.waiting_for_capture")
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED
    assert Refund.objects.get(payment__order=order).status == "succeeded"
    assert sims.yookassa.state["payments"][order.payment.provider_payment_id]["status"] == "canceled"
    assert Payment.objects.get(order=order).settlement == Payment.Settlement.RETURNED


def test_reconciliation_catches_a_missed_webhook(client: Client, shop, sims, eager, settings) -> None:
    settings.PAYMENT_RECONCILE_AFTER_SECONDS = 0
    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)  # no notification reaches us
    assert payments_reconcile() == 1
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL


def test_tbank_two_stage_flow_and_bad_token(client: Client, shop, sims, eager) -> None:
    order = _buy(client, shop, device=shop.tbank_device)
    payment_id = order.payment.provider_payment_id
    sims.tbank.pay(payment_id)  # PayType=T → AUTHORIZED
    stored = sims.tbank.state["payments"][payment_id]
    forged = sims.tbank.notification(stored)
    forged["Token"] = "0" * 64
    assert client.post("/webhooks/tbank/", forged, content_type="application/json").status_code == 403
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    response = client.post("/webhooks/tbank/", sims.tbank.notification(stored), content_type="application/json")
    assert response.status_code == 200 and response.content == b"OK"
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL
    assert sims.tbank.state["payments"][payment_id]["Status"] == "CONFIRMED"


def test_tbank_notification_claiming_more_than_the_bank_knows_is_rejected(client: Client, shop, sims, eager) -> None:
    order = _buy(client, shop, device=shop.tbank_device)
    stored = dict(sims.tbank.state["payments"][order.payment.provider_payment_id], Status="CONFIRMED")
    body = sims.tbank.notification(stored)  # correctly signed, but GetState says NEW
    assert client.post("/webhooks/tbank/", body, content_type="application/json").status_code == 400
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING


def test_legacy_dynamic_qr_prices_from_tmetr_and_reuses_the_order(client: Client, shop, sims) -> None:
    url = f"/v1/pay?deviceUuid={shop.device.external_id}&drinkNo=7&size=1&uuid=machine-order-1&drinkName=Мокко"
    first = client.get(url)
    second = client.get(url)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    order = Order.objects.get(machine_order_id="machine-order-1")
    assert order.amount == 15000 and order.size == "medium" and order.drink_name == "Мокко"
    assert len(sims.yookassa.state["payments"]) == 1
    assert client.get("/v1/pay?deviceUuid=nope&drinkNo=1&size=0&uuid=x").status_code == 404
    assert client.get(f"/v1/pay?deviceUuid={shop.device.external_id}&drinkNo=1&size=abc&uuid=x").status_code == 400


def test_receipt_form_validates_and_sends_receipt(client: Client, shop, sims) -> None:
    shop.account.issues_receipts = True
    shop.account.save()
    bad = client.post(f"/q/{shop.device.code}/", {"drink": shop.drink.pk, "size": "small", "email": "nope"})
    assert bad.status_code == 400 and "e-mail" in bad.content.decode()
    bad = client.post(f"/q/{shop.device.code}/", {"drink": shop.drink.pk, "size": "small", "phone": "12"})
    assert bad.status_code == 400
    ok = client.post(f"/q/{shop.device.code}/", {"drink": shop.drink.pk, "size": "small", "phone": "8 (999) 123-45-67"})
    assert ok.status_code == 302
    assert Order.objects.get().phone == "+79991234567"
    Order.objects.all().delete()
    order = _buy(client, shop, email="buyer@example.test")
    sent = sims.yookassa.state["payments"][order.payment.provider_payment_id]["_receipt"]
    assert sent["customer"] == {"email": "buyer@example.test"}
    assert sent["items"][0]["vat_code"] == 1 and sent["items"][0]["amount"]["value"] == "150.00"


def test_idempotence_key_prevents_a_second_payment(shop, sims) -> None:
    from payments.services import providers

    created = order_create(device=shop.device, drink=shop.drink, size="small")
    again = providers.create(order=created.order, two_stage=True, receipt=None)  # a retried create
    assert again.provider_payment_id == created.order.payment.provider_payment_id
    assert len(sims.yookassa.state["payments"]) == 1


def test_wrong_credentials_fail_payment_creation_cleanly(client: Client, shop, sims) -> None:
    shop.account.yookassa_secret_key = "wrong-secret-for-test"
    shop.account.save()
    response = client.post(f"/q/{shop.device.code}/", {"drink": shop.drink.pk, "size": "small"})
    assert response.status_code == 502 and "Оплата недоступна" in response.content.decode()
    assert Order.objects.get().status == OrderStatus.NOT_PAID


def test_silent_device_times_out_and_money_goes_back(shop, sims, eager, machine) -> None:
    machine.mode = "silence"
    created = order_create(device=shop.mqtt_device, drink=shop.drink, size="small")
    sims.yookassa.pay(created.order.payment.provider_payment_id)
    from payments.services.payments import payment_apply_status

    payment = Payment.objects.get(order=created.order)
    payment_apply_status(payment_id=payment.pk, status="waiting_for_capture", source="test")
    command = BrewCommand.objects.get(order=created.order)
    assert command.status == "sent"
    assert brews_fail_late() == (0, [])
    with time_machine.travel(timezone.now() + timedelta(seconds=10)):
        assert brews_fail_late() == (1, [])
    created.order.refresh_from_db()
    assert created.order.status == OrderStatus.FAILED
    assert Refund.objects.get(payment=payment).status == "succeeded"


def test_delivery_whose_message_was_lost_is_processed_by_the_sweep(client: Client, shop, sims) -> None:
    from unittest import mock

    from payments.tasks import deliveries_retry

    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)
    with mock.patch("payments.tasks.brew_process_delivery.delay"):  # the broker loses the message
        assert _yk_notify(client, sims, order, "payment.waiting_for_capture") == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        assert deliveries_retry(older_than_seconds=0) == 1
    finally:
        app.conf.task_always_eager = False
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL
    assert WebhookDelivery.objects.get().processed_at is not None
