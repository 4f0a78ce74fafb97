"""Celery tasks of the vending app: take ids, call one service (on the ``sync`` queue)."""

from __future__ import annotations

from celery import shared_task

from core.steps import Step, sync_step_task

from . import services
from .models import SyncKind
from .services.sync import RETRY, transactions_error


# A full sync at the default ~1 req/s reads 1,000 rows a second for hours: it runs as a chain of
# short step messages under the run's lease (core.steps), never as one long message.
@sync_step_task(
    name="vending.tasks.sync_run_execute", kinds=SyncKind.TRANSACTIONS, retry=RETRY, on_error=transactions_error
)
def sync_run_execute(step: Step) -> bool:
    return services.transactions_step(step)


@shared_task(name="vending.tasks.sync_incremental_all", queue="sync", ignore_result=True)
def sync_incremental_all() -> list[int]:
    return services.sync_incremental_all()


@shared_task(name="vending.tasks.sync_nightly_due", queue="sync", ignore_result=True)
def sync_nightly_due() -> list[int]:
    return services.sync_nightly_due()
