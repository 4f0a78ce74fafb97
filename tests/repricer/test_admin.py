"""Admin of the repricer: per-product history with a chart, the stores that need a person, proxies' secrets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from core.models import User
from marketplaces.kaspi.models import KaspiProduct, KaspiStore, SessionState
from repricer.models import PriceChange, Proxy, RepricingRule, StoreRepricing
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff() -> Client:
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_a_rule_page_shows_its_history_and_a_chart_of_our_price_against_the_best_competitor(staff: Client) -> None:
    store = KaspiStore.objects.create(merchant=MerchantFactory(), name="S", merchant_uid="1")
    product = KaspiProduct.objects.create(store=store, sku="SKU-1", kaspi_product_id="5", price=900)
    rule = RepricingRule.objects.create(product=product, min_price=10, max_price=1000)
    start = timezone.now() - timedelta(hours=3)
    for i, (old, best, new) in enumerate([(1000, 950, 949), (949, 900, 899), (899, 901, 900)]):
        PriceChange.objects.create(
            rule=rule, product=product, old_price=old, competitor_best=best, new_price=new, reason="undercut",
            outcome="applied", created_at=start + timedelta(hours=i),
        )  # fmt: skip
    page = staff.get(f"/admin/repricer/repricingrule/{rule.pk}/change/").content.decode()
    assert "<svg" in page and "best competitor" in page and "polyline" in page
    assert "949" in page and "899" in page


def test_the_store_list_filters_the_stores_that_need_a_person(staff: Client) -> None:
    merchant = MerchantFactory()
    stuck = KaspiStore.objects.create(
        merchant=merchant,
        name="Needs login",
        merchant_uid="11",
        session_state=SessionState.NEEDS_RELOGIN,
        session_reason="SMS code asked",
    )
    banned = KaspiStore.objects.create(merchant=merchant, name="Banned", merchant_uid="12")
    fine = KaspiStore.objects.create(merchant=merchant, name="Fine", merchant_uid="13", session_state=SessionState.OK)
    StoreRepricing.objects.create(store=stuck)
    StoreRepricing.objects.create(store=banned, rate_limited_until=timezone.now() + timedelta(minutes=20))
    StoreRepricing.objects.create(store=fine)
    page = staff.get("/admin/repricer/storerepricing/?needs_person=yes").content.decode()
    assert "Needs login" in page and "SMS code asked" in page and "Banned" in page and "429" in page
    assert ">Fine<" not in page


def test_a_proxy_url_with_its_password_is_never_shown(staff: Client) -> None:
    proxy = Proxy.objects.create(label="p1", url="http://user:s3cret-pass@127.0.0.1:3128")
    page = staff.get(f"/admin/repricer/proxy/{proxy.pk}/change/").content.decode()
    assert "s3cret-pass" not in page
    response = staff.post(
        f"/admin/repricer/proxy/{proxy.pk}/change/", {"label": "renamed", "url": "", "is_active": "on"}
    )
    assert response.status_code == 302
    proxy.refresh_from_db()
    assert proxy.label == "renamed" and str(proxy.url) == "http://user:s3cret-pass@127.0.0.1:3128"
