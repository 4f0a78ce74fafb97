"""Celery tasks of the vending app: take ids, call one service (on the ``sync`` queue)."""

from __future__ import annotations

from celery import shared_task

from core.exceptions import TransientError
from core.http import task_retry_options
from core.models import SyncRun

from . import services
from .models import SyncKind

# A full sync at the default ~1 req/s reads 1,000 rows a second: allow hours, not minutes.
SYNC_SOFT_LIMIT = 6 * 3600


@shared_task(
    name="vending.tasks.sync_run_execute",
    queue="sync",
    bind=True,
    **task_retry_options(backoff=30, backoff_max=600, max_retries=8),
    soft_time_limit=SYNC_SOFT_LIMIT,
    time_limit=SYNC_SOFT_LIMIT + 120,
)
def sync_run_execute(self: object, run_id: int) -> dict[str, object]:
    run = SyncRun.objects.filter(pk=run_id, kind=SyncKind.TRANSACTIONS).first()
    if run is None:
        return {"run_id": run_id, "status": "missing"}
    try:
        run = services.transactions_sync(run=run)
    except TransientError:
        raise
    except Exception as exc:  # already recorded on the run (failed) and the account
        return {"run_id": run_id, "status": "failed", "error": type(exc).__name__}
    return {"run_id": run.pk, "status": run.status, "items_done": run.items_done}


@shared_task(name="vending.tasks.sync_incremental_all", queue="sync", ignore_result=True)
def sync_incremental_all() -> list[int]:
    return services.sync_incremental_all()


@shared_task(name="vending.tasks.sync_nightly_due", queue="sync", ignore_result=True)
def sync_nightly_due() -> list[int]:
    return services.sync_nightly_due()
