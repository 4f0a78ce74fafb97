"""Celery tasks of poster_sync: take ids, call one service, safe to run twice (on the ``sync`` queue)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from core.exceptions import TransientError
from core.models import SyncRun

from .services import sync, webhooks


@shared_task(
    bind=True,
    name="poster_sync.tasks.entity_sync_run",
    queue="sync",
    autoretry_for=(TransientError,),
    retry_backoff=10,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=5,
    ignore_result=True,
    soft_time_limit=1800,
    time_limit=1900,
)
def entity_sync_run(self: Any, run_id: int) -> str:
    run = SyncRun.objects.filter(pk=run_id, kind__startswith=sync.KIND_PREFIX).first()
    if run is None or run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED):
        return "not due"
    try:
        return sync.entity_sync(run=run, final=self.request.retries >= self.max_retries).status
    except TransientError:
        raise
    except Exception as exc:  # already recorded on the run and the sync status
        return f"failed: {type(exc).__name__}"


@shared_task(
    bind=True,
    name="poster_sync.tasks.webhook_process",
    queue="sync",
    autoretry_for=(TransientError,),
    retry_backoff=1,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=max(0, settings.POSTER_WEBHOOK_MAX_ATTEMPTS - 1),
    ignore_result=True,
)
def webhook_process(self: Any, log_id: int, marked: bool = False) -> str:
    # ``marked``: the webhook's request noted the change (the sweep's and the admin's re-runs do not).
    return webhooks.webhook_process(log_id=log_id, final=self.request.retries >= self.max_retries, marked=marked)


@shared_task(
    name="poster_sync.tasks.object_refresh",
    queue="sync",
    autoretry_for=(TransientError,),
    retry_backoff=1,
    retry_backoff_max=120,
    retry_jitter=True,
    max_retries=max(0, settings.POSTER_WEBHOOK_MAX_ATTEMPTS - 1),
    ignore_result=True,
)
def object_refresh(account_id: int, object: str, object_id: str, action: str) -> str:
    return webhooks.object_refresh(account_id=account_id, object=object, object_id=object_id, action=action)


@shared_task(name="poster_sync.tasks.sync_daily", queue="sync", ignore_result=True)
def sync_daily() -> list[int]:
    return sync.sync_scheduled_all()


@shared_task(name="poster_sync.tasks.webhooks_sweep", queue="sync", ignore_result=True)
def webhooks_sweep() -> int:
    """Drives what a crash left behind to its end: unprocessed deliveries and stuck sync runs."""
    ids = webhooks.webhooks_due()
    for log_id in ids:
        webhook_process.delay(log_id)
    runs = sync.runs_stuck()
    for run_id in runs:
        entity_sync_run.delay(run_id)
    return len(ids) + len(runs)
