"""Offer-list import from the cabinet: every page, the card id from shopLink, removed offers inactive,
faults leave a failed run and keep what was stored."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from core.models import SyncRun
from marketplaces.kaspi.clients.cabinet import card_id_from_shop_link
from marketplaces.kaspi.models import KaspiProduct, KaspiStore, SessionState
from marketplaces.kaspi.services import products as products_service
from marketplaces.kaspi.services import stores as stores_service
from sandbox.kaspi import SANDBOX_MERCHANT_UID


@pytest.mark.parametrize(
    ("link", "card"),
    [
        ("https://kaspi.kz/shop/p/apple-iphone-15-128gb-chernyi-113137790/?c=750000000", "113137790"),
        ("https://kaspi.kz/shop/p/kofemashina-philips-ep2231-100944213/", "100944213"),
        ("/shop/p/100944213", "100944213"),
        ("https://kaspi.kz/shop/p/no-number/", ""),
        ("", ""),
    ],
)
def test_card_id_is_the_number_at_the_end_of_shop_link(link: str, card: str) -> None:
    assert card_id_from_shop_link(link) == card


def _run(store: KaspiStore) -> SyncRun:
    return stores_service.sync_request(store=store, orders=False)[0]


def test_import_reads_every_page_and_parses_the_card_id(
    kaspi: Callable[..., Any], make_store: Any, settings: Any
) -> None:
    sim = kaspi(offers=57)
    settings.KASPI_OFFERS_PAGE_SIZE = 10
    store = make_store(sim=sim)

    run = products_service.products_sync(run=_run(store))

    assert run.status == SyncRun.Status.SUCCEEDED
    assert (run.items_done, run.items_total) == (57, 57)
    assert KaspiProduct.objects.filter(store=store).count() == 57
    offer = sim.state["offers"][SANDBOX_MERCHANT_UID][3]
    product = KaspiProduct.objects.get(store=store, sku=offer["sku"])
    assert product.kaspi_product_id == card_id_from_shop_link(offer["shopLink"]) != ""
    assert (product.name, product.brand, product.price) == (offer["masterTitle"], offer["brand"], offer["minPrice"])
    assert product.availabilities == offer["availabilities"] and product.city_prices == offer["cityPrices"]
    store.refresh_from_db()
    assert store.products_count == 57 and store.last_products_sync_at is not None


def test_a_page_size_above_what_kaspi_serves_still_reads_everything(
    kaspi: Callable[..., Any], make_store: Any, settings: Any
) -> None:
    sim = kaspi(offers=230)
    settings.KASPI_OFFERS_PAGE_SIZE = 500  # the cabinet silently cuts pages to 100
    store = make_store(sim=sim)
    products_service.products_sync(run=_run(store))
    assert KaspiProduct.objects.filter(store=store, is_active=True).count() == 230


def test_offers_removed_in_the_cabinet_are_marked_inactive_not_deleted(
    kaspi: Callable[..., Any], make_store: Any
) -> None:
    sim = kaspi(offers=20)
    store = make_store(sim=sim)
    products_service.products_sync(run=_run(store))
    with sim.lock:
        removed = sim.state["offers"][SANDBOX_MERCHANT_UID].pop(5)

    products_service.products_sync(run=_run(store))

    gone = KaspiProduct.objects.get(store=store, sku=removed["sku"])
    assert gone.is_active is False
    assert KaspiProduct.objects.filter(store=store, is_active=True).count() == 19
    assert KaspiStore.objects.get(pk=store.pk).products_count == 19


@pytest.mark.parametrize(
    ("fault", "status"),
    [
        ({"error_rate": 1.0, "error_status": 503}, SyncRun.Status.RETRYING),  # transient: left for its retry
        ({"burst_429": 100}, SyncRun.Status.FAILED),  # a 429 is never retried into (Kaspi extends the ban)
    ],
)
def test_a_failing_cabinet_leaves_the_run_retrying_or_failed_and_keeps_every_stored_product(
    kaspi: Callable[..., Any], make_store: Any, fault: dict[str, Any], status: str
) -> None:
    sim = kaspi(offers=15)
    store = make_store(sim=sim)
    products_service.products_sync(run=_run(store))
    sim.faults.update(fault)

    run = _run(store)
    with pytest.raises(Exception):
        products_service.products_sync(run=run)

    run.refresh_from_db()
    assert run.status == status and run.error
    store.refresh_from_db()
    assert store.last_error
    assert KaspiProduct.objects.filter(store=store, is_active=True).count() == 15  # nothing lost
    # Once Kaspi answers again: the retried run ends done; a failed one stays failed, the next run syncs.
    sim.faults.update({"error_rate": 0.0, "burst_429": 0})
    retried = products_service.products_sync(run=run)
    assert retried.status == status.replace("retrying", "succeeded")
    if status == SyncRun.Status.RETRYING:
        assert retried.error == "" and retried.counters["offers"] == retried.items_done == 15
    assert products_service.products_sync(run=_run(store)).status == SyncRun.Status.SUCCEEDED


def test_a_429_from_the_cabinet_is_not_retried_into(kaspi: Callable[..., Any], make_store: Any) -> None:
    sim = kaspi(offers=15)
    store = make_store(sim=sim)
    sim.faults.update({"burst_429": 100})
    before = sim.request_count
    with pytest.raises(Exception):
        products_service.products_sync(run=_run(store))
    # One probe answered 429 and nothing else was sent: Kaspi extends a ban on every retry.
    assert sim.request_count - before == 1
    assert "429" in KaspiStore.objects.get(pk=store.pk).last_error


def test_a_changed_offer_list_fails_the_run_clearly(kaspi: Callable[..., Any], make_store: Any) -> None:
    sim = kaspi(offers=5)
    store = make_store(sim=sim)
    sim.add_route("GET", r"/bff/offer-view/list", lambda request: sim_response())
    sim._routes.insert(0, sim._routes.pop())  # the changed page wins over the normal one

    with pytest.raises(Exception):
        products_service.products_sync(run=_run(store))
    assert "page changed" in KaspiStore.objects.get(pk=store.pk).last_error
    assert KaspiStore.objects.get(pk=store.pk).session_state == SessionState.OK


def sim_response() -> Any:
    from sandbox.harness import Response

    return Response(status=200, body="<html>Новый кабинет</html>", content_type="text/html")
