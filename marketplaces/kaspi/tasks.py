"""Celery tasks of the Kaspi module: take ids, call one service; all on the ``sync`` queue (SPEC MKT-7)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from core.exceptions import IntegrationError, TransientError
from core.logging import untrusted
from core.models import SyncRun

from .clients.errors import KaspiRateLimited
from .models import KaspiStore
from .services import orders, products, session, stores

log = logging.getLogger(__name__)
SOFT_LIMIT = 3600
# Kaspi down or slow (timeout, 5xx, login page unreachable): the same run is retried a few times with
# backoff. A 429 never is: Kaspi extends the ban on every request, so the next scheduled run resumes.
RETRY: dict[str, Any] = {
    "autoretry_for": (TransientError,),
    "dont_autoretry_for": (KaspiRateLimited,),
    "retry_backoff": 15,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 4,
}


def _execute(kind: str, run_id: int, service: Any) -> dict[str, object]:
    run = SyncRun.objects.filter(pk=run_id, kind=kind).first()
    if run is None:
        return {"run_id": run_id, "status": "missing"}
    if run.status == SyncRun.Status.SUCCEEDED:
        return {"run_id": run_id, "status": run.status}  # delivered twice: already done
    try:
        run = service(run=run)
    except KaspiRateLimited as exc:
        log.warning("kaspi %s run %s: rate-limited by Kaspi: %s", kind, run_id, untrusted(str(exc), 200))
        return {"run_id": run_id, "status": "failed", "error": type(exc).__name__}
    except TransientError:
        raise  # recorded on the run and the store; retried by autoretry_for
    except IntegrationError as exc:
        # Recorded on the run (failed) and on the store (last_error / session state); a person acts.
        log.warning("kaspi %s run %s failed: %s", kind, run_id, untrusted(str(exc), 200))
        return {"run_id": run_id, "status": "failed", "error": type(exc).__name__}
    return {"run_id": run.pk, "status": run.status, "items_done": run.items_done}


@shared_task(
    name="marketplaces.kaspi.products_sync_execute",
    queue="sync",
    soft_time_limit=SOFT_LIMIT,
    time_limit=SOFT_LIMIT + 120,
    **RETRY,
)
def products_sync_execute(run_id: int) -> dict[str, object]:
    return _execute(products.KIND, run_id, products.products_sync)


@shared_task(
    name="marketplaces.kaspi.orders_sync_execute",
    queue="sync",
    soft_time_limit=SOFT_LIMIT,
    time_limit=SOFT_LIMIT + 120,
    **RETRY,
)
def orders_sync_execute(run_id: int) -> dict[str, object]:
    return _execute(orders.KIND, run_id, orders.orders_sync)


@shared_task(
    name="marketplaces.kaspi.session_login_execute", queue="sync", soft_time_limit=600, time_limit=720, **RETRY
)
def session_login_execute(store_id: int, force: bool = False) -> dict[str, object]:
    """Log in now. A transient failure (login page down) is retried with backoff; a failed login is not."""
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
