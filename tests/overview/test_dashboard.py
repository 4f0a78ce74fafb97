"""SPEC OWN-2: the admin home shows the picked merchant's channels, links to their lists, and its alerts."""

from __future__ import annotations

from datetime import datetime, time

import pytest
from django.test import Client
from django.utils import timezone

from alerts.models import Alert
from tests.factories import MerchantFactory, UserFactory

from . import helpers

pytestmark = pytest.mark.django_db


def test_admin_home_shows_the_picked_merchants_overview_and_alerts() -> None:
    staff = UserFactory(is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    shop, other = MerchantFactory(name="A shop"), MerchantFactory(name="B shop")
    now = datetime.combine(timezone.localdate(), time(1), tzinfo=timezone.get_current_timezone())
    helpers.qr_payment(shop, amount=12_345, status="succeeded", at=now)
    account = helpers.vendista_account(shop)
    helpers.vendista_tx(account, sum_minor=5_000, at=now)
    Alert.objects.create(merchant=shop, condition="vendista_unpaid", subject="x", title="Pay Vendista", link="/admin/")
    Alert.objects.create(merchant=other, condition="vendista_unpaid", subject="x", title="Other's alert")

    page = client.get("/admin/", {"merchant": shop.pk}).content.decode()
    assert 'id="overview-dashboard"' in page
    assert "123.45" in page and "50.00" in page
    assert f"/admin/payments/order/?merchant__id__exact={shop.pk}" in page
    assert f"/admin/vending/transaction/?account__id__in={account.pk}" in page
    assert "Pay Vendista" in page and "Other&#x27;s alert" not in page and "Other's alert" not in page
    assert client.get(f"/admin/vending/transaction/?account__id__in={account.pk}").status_code == 200
    assert client.get(f"/admin/payments/order/?merchant__id__exact={shop.pk}").status_code == 200

    other_page = client.get("/admin/", {"merchant": other.pk}).content.decode()
    assert "Other" in other_page and "123.45" not in other_page
    assert client.get("/admin/", {"merchant": "junk"}).status_code == 200
