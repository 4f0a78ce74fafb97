"""Connecting a merchant's Vendista accounts through the owner API (issue 9): secrets write-only,
two-merchant isolation, viewers read only, validation 400s."""

from __future__ import annotations

import pytest

from tests.factories import owner_client
from vending.models import VendistaAccount

pytestmark = [pytest.mark.django_db]
PASSWORD, TOKEN = "vendista-PASSWORD-42", "vendista-TOKEN-0123456789abcdef"
URL = "/api/v1/vending/accounts/"


def _no_secret(response, *secrets: str) -> None:
    for secret in secrets:
        assert secret not in response.content.decode(), response.content


def test_owner_connects_an_account_and_its_secrets_never_come_back() -> None:
    client, _, merchant = owner_client()
    created = client.post(
        URL,
        {
            "merchant": merchant.pk,
            "name": "Main",
            "login": "shop@example.com",
            "password": PASSWORD,
            "time_zone": "Asia/Almaty",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    _no_secret(created, PASSWORD)
    body = created.json()
    assert body["has_password"] is True and body["has_token"] is False and body["subscription_status"] == "unknown"
    account = VendistaAccount.objects.get(pk=body["id"])
    assert account.password == PASSWORD and account.time_zone == "Asia/Almaty"
    account.token = TOKEN
    account.save()
    for response in (client.get(URL), client.get(f"{URL}{account.pk}/")):
        assert response.status_code == 200
        _no_secret(response, PASSWORD, TOKEN)
    # A rename keeps the secrets; a new password drops the old login's token.
    assert client.patch(f"{URL}{account.pk}/", {"name": "Renamed"}, format="json").status_code == 200
    account.refresh_from_db()
    assert (account.name, account.token) == ("Renamed", TOKEN)
    changed = client.patch(f"{URL}{account.pk}/", {"password": "new-one"}, format="json")
    assert changed.status_code == 200 and changed.json()["has_token"] is False
    # A second account of the same merchant is fine (several Vendista logins).
    second = client.post(URL, {"merchant": merchant.pk, "name": "Second", "token": TOKEN}, format="json")
    assert second.status_code == 201, second.content
    _no_secret(second, TOKEN)
    assert (
        client.patch(f"{URL}{second.json()['id']}/", {"is_active": False}, format="json").json()["is_active"] is False
    )


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": "A", "login": "l"}, "password"),
        ({"name": "A"}, None),
        ({"name": "", "token": "t"}, "name"),
        ({"name": "A", "token": "t", "time_zone": "Mars/Olympus"}, "time_zone"),
        ({"name": "A", "token": "t", "rate_per_second": 0}, "rate_per_second"),
        ({"name": "A", "token": "t", "rate_per_second": "fast"}, "rate_per_second"),
        ({"name": "A", "token": "t", "verify_tls": False, "ca_bundle_path": "/etc/ca.pem"}, "ca_bundle_path"),
    ],
)
def test_validation_is_a_400(payload: dict, field: str | None) -> None:
    client, _, merchant = owner_client()
    response = client.post(URL, {"merchant": merchant.pk, **payload}, format="json")
    assert response.status_code == 400, response.content
    if field:
        assert field in response.json()["error"]["fields"], response.json()
    assert not VendistaAccount.objects.filter(merchant=merchant).exists()


def test_two_merchants_are_isolated_and_viewers_read_only() -> None:
    mine, _, merchant = owner_client()
    _, _, other = owner_client()
    theirs = VendistaAccount.objects.create(merchant=other, name="Theirs", token=TOKEN)
    assert mine.get(URL).json()["results"] == []
    assert mine.get(f"{URL}{theirs.pk}/").status_code == 404
    assert mine.patch(f"{URL}{theirs.pk}/", {"token": "mine-now"}, format="json").status_code == 404
    assert mine.post(URL, {"merchant": other.pk, "name": "x", "token": "t"}, format="json").status_code == 400
    theirs.refresh_from_db()
    assert theirs.token == TOKEN

    account = VendistaAccount.objects.create(merchant=merchant, name="Mine", token=TOKEN)
    viewer, _, _ = owner_client(merchant, role="viewer")
    assert viewer.get(f"{URL}{account.pk}/").status_code == 200
    assert viewer.patch(f"{URL}{account.pk}/", {"name": "x"}, format="json").status_code == 403
    assert viewer.post(URL, {"merchant": merchant.pk, "name": "x", "token": "t"}, format="json").status_code == 400
    assert viewer.delete(f"{URL}{account.pk}/").status_code in (403, 405)
    assert VendistaAccount.objects.filter(merchant=merchant).count() == 1
