"""Admin of the repricer: per-product history with a chart, the stores that need a person, proxies' secrets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from marketplaces.kaspi.models import KaspiProduct, KaspiStore, SessionState
from repricer.models import PriceChange, Proxy, RepricingRule, StoreRepricing
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_a_rule_page_shows_its_history_and_a_chart_of_our_price_against_the_best_competitor(
    staff_client: Client,
) -> None:
    store = KaspiStore.objects.create(merchant=MerchantFactory(), name="S", merchant_uid="1")
    product = KaspiProduct.objects.create(store=store, sku="SKU-1", kaspi_product_id="5", price=900)
    rule = RepricingRule.objects.create(product=product, min_price=10, max_price=1000)
    start = timezone.now() - timedelta(hours=3)
    for i, (old, best, new) in enumerate([(1000, 950, 949), (949, 900, 899), (899, 901, 900)]):
        PriceChange.objects.create(
            rule=rule, product=product, old_price=old, competitor_best=best, new_price=new, reason="undercut",
            outcome="applied", created_at=start + timedelta(hours=i),
        )  # fmt: skip
    page = staff_client.get(f"/admin/repricer/repricingrule/{rule.pk}/change/").content.decode()
    assert "<svg" in page and "best competitor" in page and "polyline" in page
    assert "949" in page and "899" in page


def test_the_store_list_filters_the_stores_that_need_a_person(staff_client: Client) -> None:
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
    page = staff_client.get("/admin/repricer/storerepricing/?needs_person=yes").content.decode()
    assert "Needs login" in page and "SMS code asked" in page and "Banned" in page and "429" in page
    assert ">Fine<" not in page


def test_a_proxy_url_with_its_password_is_never_shown(staff_client: Client) -> None:
    proxy = Proxy.objects.create(label="p1", url="http://user:s3cret-pass@127.0.0.1:3128")
    page = staff_client.get(f"/admin/repricer/proxy/{proxy.pk}/change/").content.decode()
    assert "s3cret-pass" not in page
    response = staff_client.post(
        f"/admin/repricer/proxy/{proxy.pk}/change/", {"label": "renamed", "url": "", "is_active": "on"}
    )
    assert response.status_code == 302
    proxy.refresh_from_db()
    assert proxy.label == "renamed" and str(proxy.url) == "http://user:s3cret-pass@127.0.0.1:3128"


def _rule_form(product: KaspiProduct, **fields: object) -> dict[str, object]:
    return {"product": product.pk, "is_active": "on", "min_price": 500, "max_price": 1000, "step": 1,
            "strategy": "undercut", "top_n": 1, "ignored_merchant_ids": "[]", "city_id": "750000000",
            "check_interval_seconds": 300, "changes-TOTAL_FORMS": 0, "changes-INITIAL_FORMS": 0, **fields}  # fmt: skip


def test_a_rule_added_in_the_admin_gets_its_store_switches_and_keeps_the_price_floor(staff_client: Client) -> None:
    store = KaspiStore.objects.create(merchant=MerchantFactory(), name="S", merchant_uid="1")
    product = KaspiProduct.objects.create(store=store, sku="SKU-1", kaspi_product_id="5", price=900)
    refused = staff_client.post("/admin/repricer/repricingrule/add/", _rule_form(product, min_price=1, max_price=5))
    assert refused.status_code == 200 and "at least 10 tenge" in refused.content.decode()
    assert not RepricingRule.objects.exists()
    assert staff_client.post("/admin/repricer/repricingrule/add/", _rule_form(product)).status_code == 302
    assert RepricingRule.objects.get().product == product
    assert StoreRepricing.objects.filter(store=store).exists()  # pause, dry run, feed token


def test_the_admin_holds_the_plan_limit_of_repriced_products(staff_client: Client, settings: object) -> None:
    settings.REPRICER_PLAN_PRODUCT_LIMIT = 1  # type: ignore[attr-defined]
    store = KaspiStore.objects.create(merchant=MerchantFactory(), name="S", merchant_uid="1")
    first, second = (
        KaspiProduct.objects.create(store=store, sku=f"SKU-{i}", kaspi_product_id=str(i), price=900) for i in (1, 2)
    )
    RepricingRule.objects.create(product=first, min_price=500, max_price=1000)
    refused = staff_client.post("/admin/repricer/repricingrule/add/", _rule_form(second))
    assert refused.status_code == 200 and "your plan allows 1 repriced products" in refused.content.decode()
    assert RepricingRule.objects.count() == 1
    paused = staff_client.post("/admin/repricer/repricingrule/add/", _rule_form(second, is_active=""))
    assert paused.status_code == 302
    rule = RepricingRule.objects.get(product=second)
    activated = staff_client.post(f"/admin/repricer/repricingrule/{rule.pk}/change/", _rule_form(second))
    assert activated.status_code == 200 and "your plan allows" in activated.content.decode()
    rule.refresh_from_db()
    assert rule.is_active is False
