"""Celery tasks of the Kaspi module: take ids, call one service; all on the ``sync`` queue (SPEC MKT-7)."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from django.conf import settings

from core.exceptions import TransientError
from core.steps import Step, sync_step_task

from .clients.errors import KaspiRateLimited
from .models import KaspiStore
from .services import orders, products, session, stores

log = logging.getLogger(__name__)
# Kaspi down or slow (timeout, 5xx, login page unreachable): the login is retried a few times with
# backoff. A 429 never is: Kaspi extends the ban on every request.
RETRY: dict[str, Any] = {
    "autoretry_for": (TransientError,),
    "dont_autoretry_for": (KaspiRateLimited,),
    "retry_backoff": 15,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 4,
}


# Syncs run as chains of short step messages under the run's lease (core.steps); a 429 fails the run.
@sync_step_task(
    name="marketplaces.kaspi.products_sync_execute",
    kinds=products.KIND,
    retry=products.RETRY,
    on_error=products.store_error,
)
def products_sync_execute(step: Step) -> bool:
    return products.products_step(step)


@sync_step_task(
    name="marketplaces.kaspi.orders_sync_execute",
    kinds=orders.KIND,
    retry=products.RETRY,
    on_error=products.store_error,
)
def orders_sync_execute(step: Step) -> bool:
    return orders.orders_step(step)


# A login (KASPI_LOGIN_TIMEOUT_SECONDS, 60 s) ends well within half the visibility timeout.
@shared_task(
    name="marketplaces.kaspi.session_login_execute",
    queue="sync",
    soft_time_limit=settings.SYNC_STEP_SOFT_TIME_LIMIT,
    time_limit=settings.SYNC_STEP_TIME_LIMIT,
    **RETRY,
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
