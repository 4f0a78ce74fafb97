"""Celery tasks of the Kaspi module: take ids, call one service; all on the ``sync`` queue (SPEC MKT-7)."""

from __future__ import annotations

import logging

from celery import shared_task

from core.exceptions import IntegrationError, TransientError
from core.models import SyncRun

from .clients.errors import KaspiRateLimited
from .models import KaspiStore
from .services import orders, products, session, stores

log = logging.getLogger(__name__)
SOFT_LIMIT = 3600


def _execute(kind: str, run_id: int, service: object) -> dict[str, object]:
    run = SyncRun.objects.filter(pk=run_id, kind=kind).first()
    if run is None:
        return {"run_id": run_id, "status": "missing"}
    if run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED) and run.finished_at:
        return {"run_id": run_id, "status": run.status}  # delivered twice: already done
    try:
        run = service(run=run)  # type: ignore[operator]
    except IntegrationError as exc:
        # Recorded on the run (failed) and on the store; the next scheduled run resumes. A 429 is never
        # retried into (Kaspi extends the ban), other transient errors are left to that next run too,
        # so one failing store cannot pile up retries.
        log.warning("kaspi %s run %s failed: %s", kind, run_id, exc)
        return {"run_id": run_id, "status": "failed", "error": type(exc).__name__}
    return {"run_id": run.pk, "status": run.status, "items_done": run.items_done}


@shared_task(
    name="marketplaces.kaspi.products_sync_execute",
    queue="sync",
    soft_time_limit=SOFT_LIMIT,
    time_limit=SOFT_LIMIT + 120,
)
def products_sync_execute(run_id: int) -> dict[str, object]:
    return _execute(products.KIND, run_id, products.products_sync)


@shared_task(
    name="marketplaces.kaspi.orders_sync_execute", queue="sync", soft_time_limit=SOFT_LIMIT, time_limit=SOFT_LIMIT + 120
)
def orders_sync_execute(run_id: int) -> dict[str, object]:
    return _execute(orders.KIND, run_id, orders.orders_sync)


@shared_task(
    name="marketplaces.kaspi.session_login_execute",
    queue="sync",
    bind=True,
    autoretry_for=(TransientError,),
    dont_autoretry_for=(KaspiRateLimited,),
    retry_backoff=30,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=3,
    soft_time_limit=600,
    time_limit=720,
)
def session_login_execute(self: object, store_id: int, force: bool = False) -> dict[str, object]:
    """A transient failure (login page down) is retried a few times with backoff; a failed login is not."""
    store = KaspiStore.objects.filter(pk=store_id).first()
    if store is None:
        return {"store_id": store_id, "status": "missing"}
    try:
        store = session.session_login(store=store, force=force)
    except session.SessionUnavailable as exc:
        return {"store_id": store_id, "status": "needs_relogin", "reason": exc.reason}
    return {"store_id": store_id, "status": store.session_state}


@shared_task(name="marketplaces.kaspi.sync_scheduled", queue="sync", ignore_result=True)
def sync_scheduled() -> list[int]:
    return stores.sync_scheduled()
