"""Owner API of the repricer (SPEC REP-6, REL-3, REL-5) and the XML price list (REP-3)."""

from __future__ import annotations

from typing import Any
from xml.etree import ElementTree as ET

import pytest
from django.test import Client

from marketplaces.kaspi.models import KaspiProduct, KaspiStore
from repricer.models import PriceChange, RepricingRule, StoreRepricing
from tests.factories import MerchantFactory, owner_client

pytestmark = pytest.mark.django_db

NS = "{kaspiShopping}"


def _store(merchant: Any, uid: str = "30100099") -> KaspiStore:
    return KaspiStore.objects.create(merchant=merchant, name="Магазин", merchant_uid=uid)


def _product(store: KaspiStore, sku: str = "SKU-1", **fields: Any) -> KaspiProduct:
    values = {"kaspi_product_id": "123456", "name": "Кофемолка", "price": 5000, **fields}
    return KaspiProduct.objects.create(store=store, sku=sku, **values)


def test_owner_creates_a_rule_and_reads_it_back() -> None:
    client, _, merchant = owner_client()
    product = _product(_store(merchant))
    response = client.post(
        "/api/v1/repricer/rules/",
        {"product": product.pk, "min_price": 3000, "max_price": 9000, "strategy": "top_n", "top_n": 2,
         "ignored_merchant_ids": ["777"], "max_delivery_days": 2},
        format="json",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    rule = RepricingRule.objects.get(product=product)
    assert (rule.strategy, rule.top_n, rule.ignored_merchant_ids) == ("top_n", 2, ["777"])
    assert StoreRepricing.objects.filter(store=product.store).exists()
    assert client.get(f"/api/v1/repricer/rules/{rule.pk}/").json()["min_price"] == 3000


@pytest.mark.parametrize(
    "body",
    [
        {"min_price": 9000, "max_price": 3000},
        {"min_price": 1, "max_price": 5},
        {"min_price": 10, "max_price": 100, "strategy": "cheapest"},
        {"min_price": "x", "max_price": 100},
        {"min_price": 10, "max_price": 100, "top_n": 0},
    ],
)
def test_bad_rules_are_a_400_with_the_json_error_shape(body: dict[str, Any]) -> None:
    client, _, merchant = owner_client()
    product = _product(_store(merchant))
    response = client.post("/api/v1/repricer/rules/", {"product": product.pk, **body}, format="json")
    assert response.status_code == 400
    assert isinstance(response.json(), dict)
    assert not RepricingRule.objects.exists()


def test_another_merchants_rules_and_products_are_invisible() -> None:
    client, _, _ = owner_client()
    other_store = _store(MerchantFactory(), uid="30100098")
    other = RepricingRule.objects.create(product=_product(other_store), min_price=10, max_price=100)
    assert client.get(f"/api/v1/repricer/rules/{other.pk}/").status_code == 404
    assert client.get("/api/v1/repricer/rules/").json()["results"] == []
    response = client.post(
        "/api/v1/repricer/rules/", {"product": other.product_id, "min_price": 1, "max_price": 100}, format="json"
    )
    assert response.status_code == 400
    assert client.post(f"/api/v1/repricer/rules/{other.pk}/reprice-now/").status_code == 404


def test_viewers_read_but_cannot_change_rules() -> None:
    client, _, merchant = owner_client(role="viewer")
    rule = RepricingRule.objects.create(product=_product(_store(merchant)), min_price=10, max_price=100)
    assert client.get(f"/api/v1/repricer/rules/{rule.pk}/").status_code == 200
    assert client.patch(f"/api/v1/repricer/rules/{rule.pk}/", {"max_price": 50}, format="json").status_code == 403


def test_the_plan_limit_is_off_by_default_and_refuses_rules_beyond_it(settings: Any) -> None:
    client, _, merchant = owner_client()
    store = _store(merchant)
    for i in range(3):
        body = {"product": _product(store, sku=f"S{i}").pk, "min_price": 10, "max_price": 100}
        assert client.post("/api/v1/repricer/rules/", body, format="json").status_code == 201
    settings.REPRICER_PLAN_PRODUCT_LIMIT = 3
    body = {"product": _product(store, sku="S9").pk, "min_price": 10, "max_price": 100}
    response = client.post("/api/v1/repricer/rules/", body, format="json")
    assert response.status_code == 400 and "plan" in str(response.json())


def test_reprice_now_and_a_store_dry_run_queue_the_products(
    monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    from repricer import tasks

    sent: list[tuple[Any, Any]] = []
    monkeypatch.setattr(tasks.reprice_batch, "apply_async", lambda args, kwargs, queue: sent.append((args, kwargs)))
    client, _, merchant = owner_client()
    store = _store(merchant)
    rules = [
        RepricingRule.objects.create(product=_product(store, sku=f"S{i}"), min_price=10, max_price=100)
        for i in range(3)
    ]
    switches = StoreRepricing.objects.create(store=store)
    with django_capture_on_commit_callbacks(execute=True):
        assert (
            client.post(
                f"/api/v1/repricer/rules/{rules[0].pk}/reprice-now/", {"dry_run": True}, format="json"
            ).status_code
            == 202
        )
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"/api/v1/repricer/stores/{switches.pk}/reprice-now/", {}, format="json").status_code == 202
    assert sent == [
        (([rules[0].pk],), {"dry_run": True, "force": True}),
        (([r.pk for r in rules],), {"dry_run": False, "force": True}),
    ]


def test_pause_and_dry_run_per_store() -> None:
    client, _, merchant = owner_client()
    switches = StoreRepricing.objects.create(store=_store(merchant))
    response = client.patch(
        f"/api/v1/repricer/stores/{switches.pk}/", {"is_paused": True, "dry_run": True}, format="json"
    )
    assert response.status_code == 200
    switches.refresh_from_db()
    assert switches.is_paused and switches.dry_run


def _validate_kaspi_catalog(document: bytes) -> ET.Element:
    """The documented shape: kaspi_catalog(xmlns=kaspiShopping) > company, merchantid, offers > offer[sku] >
    model, availabilities > availability[available=yes|no, storeId], and price or cityprices > cityprice[cityId]."""
    root = ET.fromstring(document)
    assert root.tag == f"{NS}kaspi_catalog" and root.get("date")
    assert [child.tag for child in root] == [f"{NS}company", f"{NS}merchantid", f"{NS}offers"]
    for offer in root.find(f"{NS}offers") or []:
        assert offer.tag == f"{NS}offer" and offer.get("sku")
        assert offer.findtext(f"{NS}model")
        availabilities = offer.find(f"{NS}availabilities")
        assert availabilities is not None and len(availabilities) >= 1
        for availability in availabilities:
            assert availability.tag == f"{NS}availability"
            assert availability.get("available") in ("yes", "no") and availability.get("storeId")
        price, city_prices = offer.find(f"{NS}price"), offer.find(f"{NS}cityprices")
        assert (price is None) != (city_prices is None)
        values = [price.text] if price is not None else [c.text for c in city_prices or []]
        assert values and all(v is not None and v.isdigit() and int(v) >= 10 for v in values)
        if city_prices is not None:
            assert all(c.tag == f"{NS}cityprice" and c.get("cityId") for c in city_prices)
    return root


def test_the_price_list_lists_every_active_offer_at_the_repricers_price_and_rotates() -> None:
    client, _, merchant = owner_client()
    store = _store(merchant)
    products = [
        _product(store, sku=f"S{i}", price=1000 + i, availabilities=[{"storeId": "PP1", "available": "yes"}])
        for i in range(5)
    ]
    _product(store, sku="GONE", is_active=False)
    RepricingRule.objects.create(product=products[0], min_price=10, max_price=9000, feed_price=777, city_id="710000000")
    switches = StoreRepricing.objects.create(store=store)

    response = Client().get(f"/kaspi/price-list/{switches.feed_token}.xml")

    assert response.status_code == 200 and response["Content-Type"].startswith("application/xml")
    root = _validate_kaspi_catalog(response.content)
    offers = {o.get("sku"): o for o in root.iter(f"{NS}offer")}
    assert set(offers) == {p.sku for p in products}
    assert offers["S0"].find(f"{NS}cityprices/{NS}cityprice[@cityId='710000000']").text == "777"
    assert offers["S3"].findtext(f"{NS}price") == "1003"

    url = client.post(f"/api/v1/repricer/stores/{switches.pk}/rotate-price-list-url/").json()["price_list_url"]
    assert Client().get(f"/kaspi/price-list/{switches.feed_token}.xml").status_code == 404
    assert Client().get(url.split("testserver", 1)[1]).status_code == 200


def test_history_of_a_rule_is_listed_newest_first() -> None:
    client, _, merchant = owner_client()
    rule = RepricingRule.objects.create(product=_product(_store(merchant)), min_price=10, max_price=100)
    for price in (90, 80):
        PriceChange.objects.create(
            rule=rule, product=rule.product, old_price=100, new_price=price, reason="undercut", outcome="applied"
        )
    rows = client.get(f"/api/v1/repricer/rules/{rule.pk}/history/").json()["results"]
    assert [r["new_price"] for r in rows] == [80, 90]
