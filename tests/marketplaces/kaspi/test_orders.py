"""Orders from the Shop API: JSON:API paging, windows of at most 14 days, every state, entries, accept."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import pytest

from core.models import SyncRun
from marketplaces.kaspi.clients.shop import windows
from marketplaces.kaspi.models import KaspiOrder, KaspiOrderEntry, KaspiStore
from marketplaces.kaspi.services import orders as orders_service
from marketplaces.kaspi.services import stores as stores_service
from sandbox.kaspi import SANDBOX_MERCHANT_UID


def test_windows_are_at_most_14_days_and_cover_the_range_without_gaps() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    end = start + timedelta(days=40, hours=5)
    parts = list(windows(start, end, days=30))  # asking for more than Kaspi allows still gives 14
    assert parts[0][0] == start and parts[-1][1] == end
    assert all(b - a < timedelta(days=14) for a, b in parts)
    assert all(nxt[0] - prev[1] == timedelta(milliseconds=1) for prev, nxt in pairwise(parts))
    assert len(parts) == 3


def _orders_run(store: KaspiStore, days: int) -> SyncRun:
    now = datetime.now(UTC)
    run = stores_service.sync_request(store=store, products=False)[0]
    run.params = {"date_from": (now - timedelta(days=days)).isoformat(), "date_to": now.isoformat()}
    run.save(update_fields=["params"])  # the test picks the window (a request freezes its own)
    return run


def test_sync_pages_through_every_window_and_state(kaspi: Callable[..., Any], make_store: Any, settings: Any) -> None:
    sim = kaspi(orders=90, days=40)
    settings.KASPI_ORDERS_PAGE_SIZE = 4
    # ~110 calls (the pages and each order's entries) are 22 s at the real 5/s: the paging is what this
    # test is about; the pace is test_pace.py's.
    settings.KASPI_SHOP_API_RATE_PER_SECOND = 1000.0
    store = make_store()

    run = orders_service.orders_sync(run=_orders_run(store, days=41))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.counters["windows"] == 3  # 41 days in windows of ≤ 14 (the simulator refuses longer ones)
    assert run.counters["pages"] > 18  # 90 orders in pages of 4 across 6 states
    assert KaspiOrder.objects.filter(store=store).count() == 90 == run.items_done == run.items_total
    expected = sim.state["orders"][SANDBOX_MERCHANT_UID][7]
    order = KaspiOrder.objects.get(store=store, kaspi_id=expected["id"])
    assert order.code == expected["attributes"]["code"] and order.state == expected["attributes"]["state"]
    assert order.total_price == expected["attributes"]["totalPrice"]
    entries = list(order.entries.order_by("entry_number"))
    assert [e.sku for e in entries] == [e["attributes"]["offer"]["code"] for e in expected["_entries"]]
    assert entries[0].kaspi_product_id == expected["_entries"][0]["relationships"]["product"]["data"]["id"]
    store.refresh_from_db()
    assert store.orders_synced_until is not None and store.last_orders_sync_at is not None


def test_a_second_sync_updates_states_without_duplicates_or_refetching_entries(
    kaspi: Callable[..., Any], make_store: Any
) -> None:
    sim = kaspi(orders=12, days=10)
    store = make_store()
    orders_service.orders_sync(run=_orders_run(store, days=11))
    entries_requests = sim.request_count
    with sim.lock:
        sim.state["orders"][SANDBOX_MERCHANT_UID][0]["attributes"]["state"] = "ARCHIVE"

    orders_service.orders_sync(run=_orders_run(store, days=11))

    assert KaspiOrder.objects.filter(store=store).count() == 12
    assert KaspiOrderEntry.objects.filter(order__store=store).count() == sum(
        len(o["_entries"]) for o in sim.state["orders"][SANDBOX_MERCHANT_UID]
    )
    first = sim.state["orders"][SANDBOX_MERCHANT_UID][0]
    assert KaspiOrder.objects.get(store=store, kaspi_id=first["id"]).state == "ARCHIVE"
    assert sim.request_count - entries_requests == 6  # one page per state, no entries again


def test_the_requested_window_starts_before_the_last_synced_instant(make_store: Any, settings: Any) -> None:
    settings.KASPI_ORDERS_OVERLAP_DAYS = 3
    now = datetime(2026, 3, 1, tzinfo=UTC)
    store = make_store(orders_synced_until=now - timedelta(hours=1))
    start, end = orders_service.orders_window(store=store, now=now)
    assert (start, end) == (now - timedelta(days=3, hours=1), now)


def test_a_shop_api_outage_leaves_the_run_retrying_and_its_retry_ends_it_done(
    kaspi: Callable[..., Any], make_store: Any
) -> None:
    sim = kaspi(orders=10, days=5)
    store = make_store()
    orders_service.orders_sync(run=_orders_run(store, days=6))
    sim.faults.update({"error_rate": 1.0, "error_status": 502})

    run = _orders_run(store, days=6)
    with pytest.raises(Exception):
        orders_service.orders_sync(run=run)

    run.refresh_from_db()
    assert run.status == SyncRun.Status.RETRYING and "502" in run.error
    assert "502" in KaspiStore.objects.get(pk=store.pk).last_error
    assert KaspiOrder.objects.filter(store=store).count() == 10
    sim.faults.update({"error_rate": 0.0})
    run = orders_service.orders_sync(run=run)  # the retry of the same run
    assert run.status == SyncRun.Status.SUCCEEDED and run.error == ""
    assert run.counters["orders"] == run.items_done == 10  # counted once


def test_accept_order_sets_accepted_by_merchant_at_kaspi(kaspi: Callable[..., Any], make_store: Any) -> None:
    sim = kaspi(orders=12, days=5)
    store = make_store()
    orders_service.orders_sync(run=_orders_run(store, days=6))
    order = KaspiOrder.objects.filter(store=store, state="NEW").first()
    assert order is not None and order.status == "APPROVED_BY_BANK"

    order = orders_service.order_accept(order=order)
    again = orders_service.order_accept(order=order)

    assert order.status == again.status == "ACCEPTED_BY_MERCHANT" and order.accepted_at is not None
    assert sim.state["accepted"] == 1
    remote = next(o for o in sim.state["orders"][SANDBOX_MERCHANT_UID] if o["id"] == order.kaspi_id)
    assert remote["attributes"]["status"] == "ACCEPTED_BY_MERCHANT"


def test_an_archived_order_cannot_be_accepted(kaspi: Callable[..., Any], make_store: Any) -> None:
    kaspi(orders=12, days=5)
    store = make_store()
    orders_service.orders_sync(run=_orders_run(store, days=6))
    order = KaspiOrder.objects.filter(store=store, state="ARCHIVE").first()
    assert order is not None
    with pytest.raises(orders_service.OrderNotAcceptable):
        orders_service.order_accept(order=order)


def test_a_hanging_shop_api_times_out_into_a_retrying_run(
    kaspi: Callable[..., Any], make_store: Any, settings: Any
) -> None:
    sim = kaspi(orders=5, days=3)
    settings.HTTP_READ_TIMEOUT = 0.5
    store = make_store()
    sim.faults.update({"hang_next": 10, "hang_seconds": 2.0})
    run = _orders_run(store, days=4)
    with pytest.raises(Exception):
        orders_service.orders_sync(run=run)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RETRYING and "timeout" in run.error
    assert "timeout" in KaspiStore.objects.get(pk=store.pk).last_error


def test_the_shop_api_token_never_reaches_the_logs(kaspi: Callable[..., Any], make_store: Any, caplog: Any) -> None:
    import logging

    from sandbox.kaspi import SANDBOX_SHOP_TOKEN

    kaspi(orders=5, days=3)
    caplog.set_level(logging.DEBUG)
    store = make_store()
    orders_service.orders_sync(run=_orders_run(store, days=4))
    assert "kaspi-shop-api GET" in caplog.text
    assert SANDBOX_SHOP_TOKEN not in caplog.text
