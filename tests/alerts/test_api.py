"""SPEC OWN-3/OWN-4 owner API: channels with write-only secrets, a test message, alerts scoped."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.utils import timezone

from alerts.models import Alert, AlertChannel, Delivery
from alerts.services.delivery import deliveries_send_due
from tests.factories import MerchantFactory, owner_client

from .inbox import Inbox

pytestmark = pytest.mark.django_db
TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_channel_secret_is_write_only_and_kept_when_blank() -> None:
    client, _, merchant = owner_client()
    response = client.post(
        "/api/v1/alert-channels/",
        {"merchant": merchant.pk, "name": "tg", "kind": "telegram", "secret": TOKEN, "telegram_chat_id": "42"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["has_secret"] is True and "secret" not in body
    assert TOKEN not in response.content.decode()
    patched = client.patch(f"/api/v1/alert-channels/{body['id']}/", {"name": "tg2", "secret": ""}, format="json")
    assert patched.status_code == 200
    assert AlertChannel.objects.get().secret == TOKEN
    with connection.cursor() as cursor:
        cursor.execute("SELECT secret FROM alerts_alertchannel")
        assert TOKEN not in cursor.fetchone()[0]  # encrypted at rest


@pytest.mark.parametrize(
    "data",
    [
        {"kind": "telegram", "secret": TOKEN},
        {"kind": "telegram", "secret": "nope", "telegram_chat_id": "1"},
        {"kind": "email"},
        {"kind": "apprise", "secret": "definitely not a url"},
        {"kind": "pigeon"},
    ],
)
def test_bad_channel_is_a_clear_400(data: dict[str, str]) -> None:
    client, _, merchant = owner_client()
    response = client.post("/api/v1/alert-channels/", {"merchant": merchant.pk, "name": "x", **data}, format="json")
    assert response.status_code == 400
    assert response.json()


@pytest.mark.parametrize(
    "url",
    [
        "json://169.254.169.254/latest/meta-data",  # a cloud metadata address
        "jsons://10.0.0.5:8443/hook",
        "ntfy://127.0.0.1:6379/topic",  # a service on the worker's own loopback
        "mailto://user:pass@internal.example",
    ],
)
def test_an_apprise_url_to_any_host_is_refused_unless_the_operator_lists_it(url: str, settings: object) -> None:
    """OWN-4 without SSRF: by default a channel may name a service (slack://, tgram:// …) whose servers
    Apprise knows, never a host of the owner's choosing; a stored one is refused at send time too."""
    settings.ALERTS_APPRISE_HOSTS = []  # type: ignore[attr-defined]  # the production default
    settings.ALERTS_SANDBOX_URL = ""  # type: ignore[attr-defined]
    client, _, merchant = owner_client()

    def save(name: str, secret: str) -> Any:
        data = {"merchant": merchant.pk, "name": name, "kind": "apprise", "secret": secret}
        return client.post("/api/v1/alert-channels/", data, format="json")

    response = save("x", url)
    assert response.status_code == 400
    assert "ALERTS_APPRISE_HOSTS" in str(response.json())
    slack = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"  # Apprise's documentation example
    ok = save("s", slack)
    assert ok.status_code == 201, ok.json()

    stored = AlertChannel.objects.create(merchant=merchant, name="old", kind="apprise", secret=url)
    Delivery.objects.create(channel=stored, event="test", title="t", next_attempt_at=timezone.now())
    deliveries_send_due()
    delivery = Delivery.objects.get(channel=stored)
    assert delivery.status == Delivery.Status.PENDING and "not allowed" in delivery.last_error
    settings.ALERTS_APPRISE_HOSTS = [urlsplit(url).hostname]  # type: ignore[attr-defined]  # the operator's word
    assert save("y", url).status_code == 201


def test_send_test_reaches_the_channel(inbox: Inbox) -> None:
    client, _, merchant = owner_client()
    created = client.post(
        "/api/v1/alert-channels/",
        {"merchant": merchant.pk, "name": "box", "kind": "apprise", "secret": inbox.url},
        format="json",
    ).json()
    response = client.post(f"/api/v1/alert-channels/{created['id']}/test/")
    assert response.status_code == 202
    deliveries_send_due()
    assert [m["title"] for m in inbox.messages] == ["merchant-ops: test message"]
    assert Delivery.objects.get().status == Delivery.Status.SENT


def test_another_merchants_alerts_and_channels_are_invisible() -> None:
    client, _, merchant = owner_client()
    other = MerchantFactory()
    theirs = Alert.objects.create(merchant=other, condition="vendista_unpaid", subject="a", title="theirs")
    mine = Alert.objects.create(merchant=merchant, condition="vendista_unpaid", subject="a", title="mine")
    channel = AlertChannel.objects.create(merchant=other, name="x", kind="email", email_to="a@example.com")
    listed = client.get("/api/v1/alerts/").json()
    assert [a["id"] for a in listed["results"]] == [mine.pk]
    assert client.get(f"/api/v1/alerts/{theirs.pk}/").status_code == 404
    assert client.post(f"/api/v1/alert-channels/{channel.pk}/test/").status_code == 404
    assert client.get("/api/v1/alert-channels/").json()["results"] == []


def test_viewer_cannot_send_a_test() -> None:
    client, _, merchant = owner_client(role="viewer")
    channel = AlertChannel.objects.create(merchant=merchant, name="x", kind="email", email_to="a@example.com")
    assert client.post(f"/api/v1/alert-channels/{channel.pk}/test/").status_code == 403


def test_owner_changes_thresholds() -> None:
    client, _, merchant = owner_client()
    created = client.post("/api/v1/alert-settings/", {"merchant": merchant.pk, "sync_failures": 5}, format="json")
    assert created.status_code == 201
    assert (
        client.patch(f"/api/v1/alert-settings/{created.json()['id']}/", {"hourly_cap": 0}, format="json").status_code
        == 400
    )
    again = client.post("/api/v1/alert-settings/", {"merchant": merchant.pk}, format="json")
    assert again.status_code == 400
