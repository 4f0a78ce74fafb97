"""Staff add a channel in the admin (secret write-only, checked by the same service) and send a test."""

from __future__ import annotations

import pytest
from django.test import Client

from alerts.models import AlertChannel, Delivery
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_admin_adds_a_channel_keeps_the_secret_and_queues_a_test(staff_client: Client) -> None:
    merchant = MerchantFactory()
    form = {"merchant": merchant.pk, "name": "tg", "kind": "telegram", "secret": TOKEN, "telegram_chat_id": "42"}
    response = staff_client.post("/admin/alerts/alertchannel/add/", {**form, "is_active": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    channel = AlertChannel.objects.get()
    page = staff_client.get(f"/admin/alerts/alertchannel/{channel.pk}/change/").content.decode()
    assert TOKEN not in page
    staff_client.post(
        f"/admin/alerts/alertchannel/{channel.pk}/change/", {**form, "secret": "", "name": "renamed", "is_active": "on"}
    )
    channel.refresh_from_db()
    assert channel.name == "renamed" and channel.secret == TOKEN

    staff_client.post(
        "/admin/alerts/alertchannel/", {"action": "send_test", "_selected_action": [channel.pk]}, follow=True
    )
    assert Delivery.objects.get().event == Delivery.Event.TEST


def test_admin_refuses_a_bad_token_with_a_message(staff_client: Client) -> None:
    merchant = MerchantFactory()
    response = staff_client.post(
        "/admin/alerts/alertchannel/add/",
        {"merchant": merchant.pk, "name": "tg", "kind": "telegram", "secret": "nope", "telegram_chat_id": "1"},
    )
    assert response.status_code == 200
    assert "not a Telegram bot token" in response.content.decode()
    assert not AlertChannel.objects.exists()
