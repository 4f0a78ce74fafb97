"""Admin: every payments page renders, secrets are masked, logs are read-only, the refund action works."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from payments.models import BrewCommand, Order, Payment, Refund, WebhookDelivery
from payments.services.orders import order_create
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def admin_client(client: Client) -> Client:
    user = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_pages_render_and_secrets_are_masked(admin_client: Client, shop, sims, eager) -> None:
    order = order_create(device=shop.device, drink=shop.drink, size="small").order
    sims.yookassa.pay(order.payment.provider_payment_id)
    body = sims.yookassa.notification(
        "payment.waiting_for_capture", sims.yookassa.state["payments"][order.payment.provider_payment_id]
    )
    assert admin_client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 200
    for model in (
        "paymentaccount",
        "device",
        "drink",
        "order",
        "payment",
        "refund",
        "brewcommand",
        "receipt",
        "webhookdelivery",
    ):
        response = admin_client.get(
            reverse(f"admin:payments_{model}_changelist") + "?status__exact=successful"
            if model == "order"
            else reverse(f"admin:payments_{model}_changelist")
        )
        assert response.status_code == 200, model
    page = admin_client.get(reverse("admin:payments_order_change", args=[order.pk])).content.decode()
    assert "pending" in page and "successful" in page and "brew" in page  # the timeline and the history
    accounts = admin_client.get(reverse("admin:payments_paymentaccount_changelist")).content.decode()
    assert sims.secret_key not in accounts and sims.terminal_password not in accounts
    edit = admin_client.get(reverse("admin:payments_paymentaccount_change", args=[shop.account.pk])).content.decode()
    assert sims.secret_key not in edit
    # Logs are read-only.
    delivery = WebhookDelivery.objects.get()
    assert (
        admin_client.post(
            reverse("admin:payments_webhookdelivery_change", args=[delivery.pk]), {"note": "x"}
        ).status_code
        == 403
    )
    assert admin_client.get(reverse("admin:payments_payment_add")).status_code == 403
    assert BrewCommand.objects.count() == 1


def test_refund_action_returns_money_once(admin_client: Client, shop, sims, eager) -> None:
    order = order_create(device=shop.device, drink=shop.drink, size="small").order
    sims.yookassa.pay(order.payment.provider_payment_id, method="sbp")
    Payment.objects.filter(order=order).update(status="succeeded")
    Order.objects.filter(pk=order.pk).update(status="successful")
    url = reverse("admin:payments_order_changelist")
    for _ in range(2):
        admin_client.post(url, {"action": "return_money", "_selected_action": [str(order.pk)]})
    assert Refund.objects.filter(payment__order=order, status="succeeded").count() == 1
    assert len(sims.yookassa.state["refunds"]) == 1


def test_saving_the_account_without_retyping_secrets_keeps_them(admin_client: Client, shop, sims) -> None:
    url = reverse("admin:payments_paymentaccount_change", args=[shop.account.pk])
    response = admin_client.post(
        url,
        {
            "merchant": shop.merchant.pk,
            "yookassa_shop_id": sims.shop_id,
            "yookassa_secret_key": "",
            "tbank_terminal_key": sims.terminal_key,
            "tbank_password": "",
            "two_stage": "on",
        },
    )
    assert response.status_code == 302
    shop.account.refresh_from_db()
    assert shop.account.yookassa_secret_key == sims.secret_key
    assert shop.account.tbank_password == sims.terminal_password
