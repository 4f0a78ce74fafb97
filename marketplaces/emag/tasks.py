"""Celery tasks of the eMAG app: take ids, call one service (all on the ``sync`` queue, MKT-7).

The eMAG client is the one retry layer (2, 4 … 64 s with jitter on 429/5xx/network, MKT-4), so the
tasks declare no ``autoretry_for``: a failure is recorded (failed run, callback's ``last_error``) and
the periodic sweep, which also re-enqueues unprocessed callbacks, is the next attempt.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from core.steps import Step, sync_step_task

from .clients.emag import EmagError
from .models import EmagAccount, EmagCallback
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
    callback = EmagCallback.objects.select_related("account").filter(pk=callback_id, processed_at=None).first()
    if callback is None:
        return {"callback_id": callback_id, "status": "done"}
    try:
        order = orders.callback_process(callback=callback)
    except EmagError as exc:  # kept on the callback; the next sweep enqueues it again
        return {"callback_id": callback_id, "status": "failed", "error": type(exc).__name__}
    return {"callback_id": callback_id, "order": order.pk if order else None}


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
