"""The eMAG account admin writes through ``emag_account_save``, the owner API's service (issue 22)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from marketplaces.emag.models import EmagAccount
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def form(**fields: object) -> dict[str, object]:
    return {"name": "Shop", "platform": "ro", "api_user": "", "api_password": "", "is_active": "on",
            "backup_enabled": "on", "backup_retention_days": "30", **fields}  # fmt: skip


def test_an_account_without_credentials_is_a_form_error_not_a_save(staff_client: Client) -> None:
    merchant = MerchantFactory()
    url = reverse("admin:marketplaces_emag_emagaccount_add")
    response = staff_client.post(url, form(merchant=merchant.pk, api_user="user-1"))
    assert response.status_code == 200 and "Required." in response.content.decode()
    assert not EmagAccount.objects.exists()
    response = staff_client.post(url, form(merchant=merchant.pk, api_user="user-1", api_password="pw-1"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert EmagAccount.objects.get().api_password == "pw-1"


def test_blank_credentials_in_the_admin_keep_the_stored_ones(staff_client: Client) -> None:
    account = EmagAccount.objects.create(merchant=MerchantFactory(), name="Shop", api_user="u-1", api_password="p-1")
    url = reverse("admin:marketplaces_emag_emagaccount_change", args=[account.pk])
    response = staff_client.post(url, form(name="Renamed", is_active=""))
    assert response.status_code == 302, response.content.decode()[:2000]
    account.refresh_from_db()
    assert (account.name, account.is_active, account.api_user, account.api_password) == ("Renamed", False, "u-1", "p-1")
