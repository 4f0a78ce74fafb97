"""Celery tasks of the eMAG app: take ids, call one service (all on the ``sync`` queue, MKT-7).

The eMAG client is the one retry layer (2, 4 … 64 s with jitter on 429/5xx/network, MKT-4), so the
tasks declare no ``autoretry_for``: a failure is recorded (failed run; a callback left ``retry`` with
its ``last_error`` and next attempt) and a periodic sweep (orders; the callbacks' inbox sweep) is the
next attempt.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from core.steps import Step, sync_step_task

from .models import EmagAccount
from .services import backups, offers, orders
from .services.monitoring import KIND_OFFERS, KIND_ORDERS

# A callback may wait through eMAG's backoff (up to ~2 min per call, two calls): allow it time, but
# never as long as the broker's visibility timeout (it would be handed out again while running).
_LONG: dict[str, Any] = {
    "soft_time_limit": settings.SYNC_STEP_SOFT_TIME_LIMIT,
    "time_limit": settings.SYNC_STEP_TIME_LIMIT,
}


# Sweeps and offer reads run as chains of short step messages under the run's lease (core.steps).
@sync_step_task(
    name="marketplaces.emag.tasks.orders_sync", kinds=KIND_ORDERS, retry=orders.RETRY, on_error=orders.account_error
)
def orders_sync(step: Step) -> bool:
    return orders.orders_step(step)


@sync_step_task(
    name="marketplaces.emag.tasks.offers_sync_execute",
    kinds=KIND_OFFERS,
    retry=orders.RETRY,
    on_error=offers.offers_error,
)
def offers_sync_execute(step: Step) -> bool:
    return offers.offers_step(step)


@shared_task(name="marketplaces.emag.tasks.callback_process", queue="sync", **_LONG)
def callback_process(callback_id: int) -> dict[str, Any]:
    # A failure is recorded on the callback (retry, with its next attempt); the inbox sweep retries it.
    return {"callback_id": callback_id, "status": orders.callback_process(callback_id=callback_id)}


# Callbacks run by the one inbox sweep (core.inbox): lost messages and due retries.
@shared_task(name="marketplaces.emag.tasks.callbacks_sweep", queue="sync", ignore_result=True, **_LONG)
def callbacks_sweep() -> int:
    return orders.callbacks_sweep()


@shared_task(name="marketplaces.emag.tasks.orders_sweep_all", queue="sync", ignore_result=True)
def orders_sweep_all() -> list[int]:
    return orders.orders_sweep_all()


@shared_task(name="marketplaces.emag.tasks.offers_sync", queue="sync")
def offers_sync(account_id: int) -> dict[str, Any]:
    """Queue an offers run of the account (its steps follow as ``offers_sync_execute``)."""
    account = EmagAccount.objects.filter(pk=account_id, is_active=True).select_related("merchant").first()
    if account is None:
        return {"account": account_id, "status": "missing"}
    run = offers.offers_request(account=account)
    offers_sync_execute.delay(run.pk)
    return {"run_id": run.pk, "status": run.status}


@shared_task(name="marketplaces.emag.tasks.offers_sync_all", queue="sync", ignore_result=True)
def offers_sync_all() -> list[int]:
    ids = list(EmagAccount.objects.filter(is_active=True).values_list("pk", flat=True))
    for account_id in ids:
        offers_sync.delay(account_id)
    return ids


@shared_task(name="marketplaces.emag.tasks.backups_daily", queue="sync", ignore_result=True)
def backups_daily() -> dict[str, Any]:
    return backups.backups_daily()
