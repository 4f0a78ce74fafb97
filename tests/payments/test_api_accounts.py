"""Connecting a merchant without a shell (issue 9): payment and Tmetr accounts through the owner API.
Secrets are write-only (never in a response), other merchants' accounts are 404, viewers read only,
bad input is a 400."""

from __future__ import annotations

import json

import pytest

from payments.models import PaymentAccount, TmetrAccount
from tests.factories import owner_client

pytestmark = [pytest.mark.django_db]
YK_SECRET, TB_SECRET = "live_yk-SECRET-0123456789", "tb-PASSWORD-0123456789"


def _no_secret(response, *secrets: str) -> None:
    body = response.content.decode()
    for secret in secrets:
        assert secret not in body, f"a secret leaked in {response.status_code} {body}"


def test_owner_connects_yookassa_then_tbank_and_secrets_never_come_back() -> None:
    client, _, merchant = owner_client()
    created = client.post(
        "/api/v1/payments/accounts/",
        {"merchant": merchant.pk, "yookassa_shop_id": "123456", "yookassa_secret_key": YK_SECRET},
        format="json",
    )
    assert created.status_code == 201, created.content
    _no_secret(created, YK_SECRET)
    body = created.json()
    assert body["has_yookassa_secret_key"] is True and body["has_tbank_password"] is False
    assert "yookassa_secret_key" not in body
    account = PaymentAccount.objects.get(merchant=merchant)
    assert account.yookassa_secret_key == YK_SECRET  # stored (encrypted at rest)

    # Adding T-Bank later keeps the YooKassa secret (omitted = unchanged).
    updated = client.patch(
        f"/api/v1/payments/accounts/{account.pk}/",
        {"tbank_terminal_key": "Term1", "tbank_password": TB_SECRET},
        format="json",
    )
    assert updated.status_code == 200, updated.content
    _no_secret(updated, YK_SECRET, TB_SECRET)
    account.refresh_from_db()
    assert (account.yookassa_secret_key, account.tbank_password) == (YK_SECRET, TB_SECRET)
    for response in (client.get("/api/v1/payments/accounts/"), client.get(f"/api/v1/payments/accounts/{account.pk}/")):
        assert response.status_code == 200
        _no_secret(response, YK_SECRET, TB_SECRET)
    assert client.get("/api/v1/payments/accounts/").json()["results"][0]["has_tbank_password"] is True
    # A second account for the same merchant is refused: update the one there is.
    again = client.post(
        "/api/v1/payments/accounts/",
        {"merchant": merchant.pk, "yookassa_shop_id": "9", "yookassa_secret_key": "x"},
        format="json",
    )
    assert again.status_code == 400 and "merchant" in again.json()["error"]["fields"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"yookassa_shop_id": "123"}, "yookassa_secret_key"),
        ({"tbank_password": "p"}, "tbank_terminal_key"),
        ({}, None),
        ({"yookassa_shop_id": "1", "yookassa_secret_key": "s", "two_stage": "maybe"}, "two_stage"),
        ({"yookassa_shop_id": "x" * 65, "yookassa_secret_key": "s"}, "yookassa_shop_id"),
    ],
)
def test_payment_account_validation_is_a_400(payload: dict, field: str | None) -> None:
    client, _, merchant = owner_client()
    response = client.post("/api/v1/payments/accounts/", {"merchant": merchant.pk, **payload}, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    if field:
        assert field in error["fields"]
    assert not PaymentAccount.objects.filter(merchant=merchant).exists()


def test_two_merchants_never_see_or_touch_each_others_accounts() -> None:
    mine, _, _mine = owner_client()
    theirs, _, other = owner_client()
    their_account = PaymentAccount.objects.create(merchant=other, yookassa_shop_id="777", yookassa_secret_key=YK_SECRET)
    their_tmetr = TmetrAccount.objects.create(merchant=other, username="u", password=TB_SECRET)
    assert mine.get("/api/v1/payments/accounts/").json()["results"] == []
    for url in (f"/api/v1/payments/accounts/{their_account.pk}/", f"/api/v1/payments/tmetr-accounts/{their_tmetr.pk}/"):
        assert mine.get(url).status_code == 404
        assert mine.patch(url, {"username": "x", "yookassa_shop_id": "1"}, format="json").status_code == 404
    sneaky = mine.post(
        "/api/v1/payments/accounts/",
        {"merchant": other.pk, "yookassa_shop_id": "1", "yookassa_secret_key": "s"},
        format="json",
    )
    assert sneaky.status_code == 400 and "merchant" in sneaky.json()["error"]["fields"]
    their_account.refresh_from_db()
    assert their_account.yookassa_shop_id == "777"
    assert theirs.get(f"/api/v1/payments/accounts/{their_account.pk}/").status_code == 200


def test_a_viewer_reads_but_cannot_write() -> None:
    _, _, merchant = owner_client()
    viewer, _, _ = owner_client(merchant, role="viewer")
    account = PaymentAccount.objects.create(merchant=merchant, yookassa_shop_id="1", yookassa_secret_key=YK_SECRET)
    assert viewer.get(f"/api/v1/payments/accounts/{account.pk}/").status_code == 200
    assert (
        viewer.patch(
            f"/api/v1/payments/accounts/{account.pk}/", {"yookassa_secret_key": "stolen"}, format="json"
        ).status_code
        == 403
    )
    assert (
        viewer.post(
            "/api/v1/payments/tmetr-accounts/",
            {"merchant": merchant.pk, "username": "u", "password": "p"},
            format="json",
        ).status_code
        == 400
    )
    account.refresh_from_db()
    assert account.yookassa_secret_key == YK_SECRET
    assert not TmetrAccount.objects.filter(merchant=merchant).exists()
    manager, _, _ = owner_client(merchant, role="manager")
    assert (
        manager.patch(f"/api/v1/payments/accounts/{account.pk}/", {"two_stage": False}, format="json").status_code
        == 200
    )


def test_tmetr_login_change_drops_the_old_tokens_and_a_pasted_token_works_alone() -> None:
    client, _, merchant = owner_client()
    created = client.post(
        "/api/v1/payments/tmetr-accounts/",
        {"merchant": merchant.pk, "username": "coffee", "password": TB_SECRET},
        format="json",
    )
    assert created.status_code == 201, created.content
    _no_secret(created, TB_SECRET)
    account = TmetrAccount.objects.get(merchant=merchant)
    account.access_token, account.refresh_token = "old-access", "old-refresh"
    account.save()
    changed = client.patch(
        f"/api/v1/payments/tmetr-accounts/{account.pk}/", {"password": "new-password-1"}, format="json"
    )
    assert changed.status_code == 200
    _no_secret(changed, "new-password-1", TB_SECRET)
    assert changed.json()["has_access_token"] is False
    account.refresh_from_db()
    assert (account.password, account.access_token, account.refresh_token) == ("new-password-1", "", "")

    _, _, other = owner_client()
    other_client, _, _ = owner_client(other)
    pasted = other_client.post(
        "/api/v1/payments/tmetr-accounts/", {"merchant": other.pk, "access_token": "eyJ.tok"}, format="json"
    )
    assert pasted.status_code == 201 and pasted.json()["has_access_token"] is True
    assert "eyJ.tok" not in json.dumps(pasted.json())
    fresh, _, third = owner_client()
    lonely = fresh.post("/api/v1/payments/tmetr-accounts/", {"merchant": third.pk, "username": "u"}, format="json")
    assert lonely.status_code == 400 and "password" in lonely.json()["error"]["fields"]
