"""The Vendista account admin writes through ``vendista_account_save``, the owner API's service (issue 22)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from tests.factories import MerchantFactory
from vending.models import VendistaAccount

pytestmark = pytest.mark.django_db


def form(**fields: object) -> dict[str, object]:
    return {"name": "Cafe", "login": "", "password": "", "token": "", "time_zone": "Europe/Moscow",
            "verify_tls": "on", "ca_bundle_path": "", "rate_per_second": "5", "is_active": "on", **fields}  # fmt: skip


def test_a_new_login_in_the_admin_drops_the_token_of_the_old_one_and_keeps_blank_secrets(staff_client: Client) -> None:
    account = VendistaAccount.objects.create(
        merchant=MerchantFactory(), name="Cafe", login="old-login", password="old-pass", token="old-token",
        rate_per_second=5, last_error="401 for the old login", subscription_status="unpaid",
    )  # fmt: skip
    url = reverse("admin:vending_vendistaaccount_change", args=[account.pk])
    response = staff_client.post(url, form(login="new-login"))
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.login, account.password) == ("new-login", "old-pass")  # the blank password kept
    assert account.token == "" and account.last_error == "" and account.subscription_status == "unknown"
    response = staff_client.post(url, form(login="new-login", name="Renamed"))
    account.refresh_from_db()
    assert account.name == "Renamed" and account.password == "old-pass"


def test_a_login_without_a_password_is_a_form_error_not_a_save(staff_client: Client) -> None:
    merchant = MerchantFactory()
    url = reverse("admin:vending_vendistaaccount_add")
    response = staff_client.post(url, form(merchant=merchant.pk, login="login"))
    assert response.status_code == 200 and "Required with login" in response.content.decode()
    response = staff_client.post(url, form(merchant=merchant.pk, token="tok", rate_per_second="50"))
    assert response.status_code == 200 and "at most 20" in response.content.decode()
    assert not VendistaAccount.objects.exists()
    response = staff_client.post(url, form(merchant=merchant.pk, login="login", password="pw"))
    assert response.status_code == 302
    assert VendistaAccount.objects.get().password == "pw"
