"""The periodic job: declared once, on the sync queue; which stores get which runs."""

from __future__ import annotations

from typing import Any

from core.models import SyncRun
from core.scheduling import registered_jobs
from core.selectors import sync_runs_of
from marketplaces.kaspi import tasks
from marketplaces.kaspi.models import SessionState
from marketplaces.kaspi.services import stores as stores_service


def test_the_kaspi_sync_is_a_registered_periodic_job_on_the_sync_queue() -> None:
    job = next(j for j in registered_jobs() if j.name == "marketplaces.kaspi.sync")
    assert job.task == tasks.sync_scheduled.name and job.queue == "sync" and job.expires_seconds
    assert all(
        t.queue == "sync"
        for t in (
            tasks.products_sync_execute,
            tasks.orders_sync_execute,
            tasks.session_login_execute,
            tasks.sync_scheduled,
        )
    )


def test_scheduled_sync_skips_parked_inactive_and_pending_stores(make_store: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("marketplaces.kaspi.tasks.products_sync_execute.delay", lambda run_id: None)
    monkeypatch.setattr("marketplaces.kaspi.tasks.orders_sync_execute.delay", lambda run_id: None)
    ready = make_store(merchant_uid="1")
    parked = make_store(merchant_uid="2", session_state=SessionState.NEEDS_RELOGIN)
    no_cabinet = make_store(merchant_uid="3", cabinet_email="", cabinet_password="")
    make_store(merchant_uid="4", is_active=False)

    stores_service.sync_scheduled()

    def kinds(store: Any) -> set[str]:
        return set(sync_runs_of(store).values_list("kind", flat=True))

    assert kinds(ready) == {"kaspi.products", "kaspi.orders"}
    assert kinds(parked) == {"kaspi.orders"} and kinds(no_cabinet) == {"kaspi.orders"}
    assert SyncRun.objects.count() == 4
    stores_service.sync_scheduled()  # the first runs are still queued: nothing piles up
    assert SyncRun.objects.count() == 4
