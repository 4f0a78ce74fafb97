"""The payment and Tmetr account admin writes through the same services as the owner API (issue 22)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from payments.models import PaymentAccount, TmetrAccount
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_a_new_tmetr_login_in_the_admin_drops_the_tokens_of_the_old_one(staff_client: Client) -> None:
    later = timezone.now() + timedelta(hours=1)
    account = TmetrAccount.objects.create(
        merchant=MerchantFactory(), username="old-login", password="old-pass", access_token="old-access",
        access_expires_at=later, refresh_token="old-refresh", refresh_expires_at=later,
    )  # fmt: skip
    form = {"merchant": account.merchant_id, "username": "new-login", "password": "", "access_token": "",
            "refresh_token": ""}  # fmt: skip
    response = staff_client.post(f"/admin/payments/tmetraccount/{account.pk}/change/", form)
    assert response.status_code == 302, response.content[:2000]
    account.refresh_from_db()
    assert (account.username, account.password) == ("new-login", "old-pass")
    assert not account.access_token and not account.refresh_token
    assert account.access_expires_at is None and account.refresh_expires_at is None


def test_a_tmetr_username_without_a_password_is_a_form_error(staff_client: Client) -> None:
    merchant = MerchantFactory()
    form = {"merchant": merchant.pk, "username": "login", "password": "", "access_token": "", "refresh_token": ""}
    response = staff_client.post("/admin/payments/tmetraccount/add/", form)
    assert response.status_code == 200 and "Required with username" in response.content.decode()
    assert not TmetrAccount.objects.exists()


def test_a_payment_account_without_its_secret_is_a_form_error_not_a_save(staff_client: Client) -> None:
    merchant = MerchantFactory()
    form = {"merchant": merchant.pk, "yookassa_shop_id": "shop-1", "yookassa_secret_key": "",
            "tbank_terminal_key": "", "tbank_password": ""}  # fmt: skip
    response = staff_client.post("/admin/payments/paymentaccount/add/", form)
    assert response.status_code == 200 and "Required with yookassa_shop_id" in response.content.decode()
    assert not PaymentAccount.objects.exists()
    response = staff_client.post("/admin/payments/paymentaccount/add/", {**form, "yookassa_secret_key": "sk-test"})
    assert response.status_code == 302
    assert PaymentAccount.objects.get().yookassa_secret_key == "sk-test"
