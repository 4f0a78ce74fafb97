"""Tmetr tokens (API_CONTRACTS.md: Keycloak JWTs lasting ~10 hours; refreshed, or replaced without a
restart), against the Tmetr simulator accepting only the tokens its Keycloak issued."""

from __future__ import annotations

from datetime import timedelta

import pytest
import requests
from django.db import connection
from django.test import Client
from django.utils import timezone

from core.exceptions import IntegrationError
from payments.models import OrderStatus, TmetrAccount
from payments.services.tmetr_auth import tmetr_client, tmetr_token
from sandbox.tmetr import TmetrSimulator
from tests.support.concurrency import at_once

pytestmark = [pytest.mark.django_db(transaction=True)]


@pytest.fixture
def tmetr(sandbox, settings, sims) -> TmetrSimulator:
    sim = TmetrSimulator(require_token="issued", users={"owner": "s3cret-pass"}, token_lifetime=36000)
    url = sandbox(sim).url
    settings.TMETR_API_URL = url
    settings.TMETR_TOKEN_URL = f"{url}/realms/tmetr/protocol/openid-connect/token"
    settings.TMETR_CLIENT_ID = "merchant-ops"  # after `sims`, which pointed Tmetr at its own simulator
    return sim


@pytest.fixture
def login(shop) -> TmetrAccount:
    return TmetrAccount.objects.create(merchant=shop.merchant, username="owner", password="s3cret-pass")


def _price(shop) -> int:
    return tmetr_client(merchant_id=shop.merchant.pk).drink_price(device_id="dev-1", drink_id="2", size="small")


def test_first_call_logs_in_then_the_stored_token_is_reused(shop, tmetr, login) -> None:
    assert _price(shop) == 12000 and _price(shop) == 12000
    assert tmetr.state["grants"] == {"password": 1, "refresh_token": 0}
    login.refresh_from_db()
    assert login.access_expires_at > timezone.now() + timedelta(hours=9)
    with connection.cursor() as cursor:  # encrypted at rest (PLAT-5)
        cursor.execute("SELECT access_token, refresh_token FROM payments_tmetraccount WHERE id = %s", [login.pk])
        stored = cursor.fetchone()
    assert str(login.access_token) not in stored[0] and str(login.refresh_token) not in stored[1]
    assert str(login.access_token) not in repr(login.access_token)


def test_token_about_to_expire_is_refreshed_with_the_refresh_token(shop, tmetr, login) -> None:
    _price(shop)
    login.refresh_from_db()
    first_refresh = str(login.refresh_token)
    TmetrAccount.objects.filter(pk=login.pk).update(access_expires_at=timezone.now() + timedelta(seconds=30))
    assert _price(shop) == 12000
    assert tmetr.state["grants"] == {"password": 1, "refresh_token": 1}
    login.refresh_from_db()
    assert str(login.refresh_token) != first_refresh  # rotated: the spent one is gone


def test_a_refused_token_is_renewed_and_the_brew_sent_once(shop, tmetr, login) -> None:
    _price(shop)
    tmetr.expire_access_tokens()  # hours pass, or Tmetr revokes the session
    tmetr_client(merchant_id=shop.merchant.pk).make(
        device_id="dev-1", order_uuid="o-1", drink_id="2", size="small", price=12000
    )
    assert [c["orderUuid"] for c in tmetr.state["commands"]] == ["o-1"]
    assert tmetr.state["rejected_tokens"] == 1 and tmetr.state["grants"]["refresh_token"] == 1


def test_spent_refresh_token_falls_back_to_logging_in(shop, tmetr, login) -> None:
    _price(shop)
    tmetr.state["refresh"].clear()  # Keycloak forgot the session (restart, logout elsewhere)
    tmetr.expire_access_tokens()
    assert _price(shop) == 12000
    assert tmetr.state["grants"]["password"] == 2


def test_a_token_pasted_in_the_admin_is_used_from_the_next_call(shop, tmetr, admin_client: Client, settings) -> None:
    """Reconfigured without a restart: no login, only a bearer token pasted by staff."""
    account = TmetrAccount.objects.create(merchant=shop.merchant)
    with pytest.raises(IntegrationError) as refused:
        _price(shop)
    assert refused.value.status_code == 401
    fresh = requests.post(
        settings.TMETR_TOKEN_URL,
        data={  # what the owner got from Tmetr by hand
            "grant_type": "password",
            "client_id": "merchant-ops",
            "username": "owner",
            "password": "s3cret-pass",
        },
        timeout=5,
    ).json()["access_token"]
    response = admin_client.post(
        f"/admin/payments/tmetraccount/{account.pk}/change/",
        {"merchant": shop.merchant.pk, "username": "", "password": "", "access_token": fresh, "refresh_token": ""},
    )
    assert response.status_code == 302, response.content[:2000]
    assert _price(shop) == 12000
    account.refresh_from_db()
    assert str(account.access_token) == fresh and account.access_expires_at is None
    assert fresh not in admin_client.get(f"/admin/payments/tmetraccount/{account.pk}/change/").content.decode()


def test_concurrent_renewals_make_one_grant(shop, tmetr, login) -> None:
    _price(shop)
    login.refresh_from_db()
    stale = str(login.access_token)
    tmetr.expire_access_tokens()
    got = at_once(lambda _: tmetr_token(merchant_id=shop.merchant.pk, stale=stale), 4)
    assert len(set(got)) == 1 and got[0] != stale
    assert tmetr.state["grants"] == {"password": 1, "refresh_token": 1}


def test_wrong_login_fails_the_brew_and_gives_the_money_back(client: Client, shop, sims, tmetr, eager) -> None:
    from tests.payments.test_flows import _buy, _yk_notify

    TmetrAccount.objects.create(merchant=shop.merchant, username="owner", password="wrong")
    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)
    assert _yk_notify(client, sims, order, "payment.waiting_for_capture") == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.FAILED and not tmetr.state["commands"]
    assert order.payment.refund.status == "succeeded"


def test_buyer_flow_over_tmetr_with_a_login(client: Client, shop, sims, tmetr, login, eager) -> None:
    from tests.payments.test_flows import _buy, _yk_notify

    order = _buy(client, shop)
    sims.yookassa.pay(order.payment.provider_payment_id)
    assert _yk_notify(client, sims, order, "payment.waiting_for_capture") == 200
    order.refresh_from_db()
    assert order.status == OrderStatus.SUCCESSFUL and list(tmetr.state["made"]) == [str(order.pk)]


def test_without_a_login_the_process_wide_token_is_used(shop, settings) -> None:
    settings.TMETR_TOKEN = "env-token"
    assert tmetr_token(merchant_id=shop.merchant.pk) == "env-token"
    assert tmetr_token(merchant_id=None) == "env-token"
