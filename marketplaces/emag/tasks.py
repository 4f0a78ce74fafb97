"""Celery tasks of the eMAG app: take ids, call one service (all on the ``sync`` queue, MKT-7)."""

from __future__ import annotations

from typing import Any

from celery import shared_task

from core.exceptions import TransientError
from core.models import SyncRun

from .models import EmagAccount, EmagCallback
from .services import backups, offers, orders
from .services.monitoring import KIND_ORDERS

_RETRY: dict[str, Any] = {
    "autoretry_for": (TransientError,),
    "retry_backoff": 30,
    "retry_backoff_max": 600,
    "retry_jitter": True,
    "max_retries": 6,
}


@shared_task(name="marketplaces.emag.tasks.orders_sync", queue="sync", **_RETRY)
def orders_sync(run_id: int) -> dict[str, Any]:
    run = SyncRun.objects.filter(pk=run_id, kind=KIND_ORDERS).first()
    account = EmagAccount.objects.filter(pk=int(run.account_ref)).first() if run else None
    if run is None or account is None:
        return {"run_id": run_id, "status": "missing"}
    try:
        run = orders.orders_sync(account=account, run=run)
    except TransientError:
        raise
    except Exception as exc:  # recorded on the run (failed) and on the account
        return {"run_id": run_id, "status": "failed", "error": type(exc).__name__}
    return {"run_id": run.pk, "status": run.status, "items_done": run.items_done}


@shared_task(name="marketplaces.emag.tasks.callback_process", queue="sync", **_RETRY)
def callback_process(callback_id: int) -> dict[str, Any]:
    callback = EmagCallback.objects.select_related("account").filter(pk=callback_id, processed_at=None).first()
    if callback is None:
        return {"callback_id": callback_id, "status": "done"}
    order = orders.callback_process(callback=callback)
    return {"callback_id": callback_id, "order": order.pk if order else None}


@shared_task(name="marketplaces.emag.tasks.orders_sweep_all", queue="sync", ignore_result=True)
def orders_sweep_all() -> list[int]:
    return orders.orders_sweep_all()


@shared_task(name="marketplaces.emag.tasks.offers_sync", queue="sync", **_RETRY)
def offers_sync(account_id: int) -> dict[str, Any]:
    account = EmagAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return {"account": account_id, "status": "missing"}
    run = offers.offers_sync(account=account)
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
