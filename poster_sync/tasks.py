"""Celery tasks of poster_sync: take ids, call one service, safe to run twice (on the ``sync`` queue)."""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.conf import settings

from core.exceptions import TransientError
from core.steps import Step, sync_step_task

from .services import sync, webhooks


# One step per run (a full list is one request); executed under the run's lease with retries (core.steps).
@sync_step_task(
    name="poster_sync.tasks.entity_sync_run",
    kinds=[f"{sync.KIND_PREFIX}{entity}" for entity in sync.ENTITY_NAMES],
    retry=sync.RETRY,
    on_error=sync.entity_error,
)
def entity_sync_run(step: Step) -> bool:
    return sync.entity_step(step)


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
    """Drives what a crash left behind to its end: unprocessed deliveries and due retries (processed
    here by the one inbox sweep, core.inbox) and stuck sync runs."""
    swept = webhooks.webhooks_sweep()
    runs = sync.runs_stuck()
    for run_id in runs:
        entity_sync_run.delay(run_id)
    return swept + len(runs)
