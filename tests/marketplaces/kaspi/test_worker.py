"""On-demand sync through a real Celery worker on the real broker: the worker logs the store in with real
Chromium against the sandbox page, then imports offers and orders; each run is a SyncRun with progress."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from core.models import SyncRun
from marketplaces.kaspi.models import KaspiOrder, KaspiProduct, KaspiStore, SessionState
from marketplaces.kaspi.services import stores as stores_service
from tests.e2e.conftest import chromium_path

from .conftest import sim_env

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def test_sync_now_on_a_real_worker_logs_in_once_and_imports_products_and_orders(
    kaspi: Callable[..., Any], make_store: Any, start_worker: Callable[..., Any]
) -> None:
    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium not found: apt-get install -y chromium (or set CHROMIUM_EXECUTABLE)")
    sim = kaspi(offers=45, orders=24, days=10)
    start_worker(extra_env={**sim_env(sim), "CHROMIUM_EXECUTABLE": chromium, "KASPI_OFFERS_PAGE_SIZE": "20"})
    store = make_store()  # never logged in: the products run logs in first

    runs = stores_service.sync_request(store=store)

    deadline = time.monotonic() + 150
    while time.monotonic() < deadline:
        states = list(SyncRun.objects.filter(pk__in=[r.pk for r in runs]).values_list("status", flat=True))
        if all(s in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED) for s in states):
            break
        time.sleep(0.5)
    finished = {r.kind: r for r in SyncRun.objects.filter(pk__in=[r.pk for r in runs])}
    assert finished["kaspi.products"].status == SyncRun.Status.SUCCEEDED, finished["kaspi.products"].error
    assert finished["kaspi.orders"].status == SyncRun.Status.SUCCEEDED, finished["kaspi.orders"].error
    assert (finished["kaspi.products"].items_done, finished["kaspi.products"].items_total) == (45, 45)
    assert KaspiProduct.objects.filter(store=store, is_active=True).count() == 45
    assert KaspiOrder.objects.filter(store=store).count() == 24
    assert KaspiStore.objects.get(pk=store.pk).session_state == SessionState.OK
    assert sim.logins == 1
