"""Executing (or resuming) a transactions sync in steps under the run's lease (VEN-2, VEN-3, PLAT-14).

A step reads pages from the checkpoint for up to ``SYNC_STEP_SECONDS`` (``core.steps``); rows are
upserted on (account, term_id, vendista_id), so a page read again after a crash changes nothing.
"""

from __future__ import annotations

import logging
import time as time_module
from datetime import datetime

from django.utils import timezone

from core.exceptions import IntegrationError
from core.logging import untrusted
from core.models import SyncRun
from core.selectors import sync_run_account
from core.steps import Step, StepRetry, sync_run_execute

from ..clients.vendista import VendistaError
from ..models import VendistaAccount
from .accounts import account_client, account_mark_error
from .pages import pages_sync
from .terminals import terminals_sync

log = logging.getLogger(__name__)

# The step executor is the retry layer of Vendista's calls: 8 retries, 30 s doubling to 10 min
# (capped under the visibility timeout by core.steps).
RETRY = StepRetry(max_retries=8, backoff=30, backoff_max=600)


def transactions_step(step: Step, *, base_url: str | None = None) -> bool:
    """One step: terminals first (on a run's first step), then pages from the checkpoint."""
    run = step.run
    account = step.account(VendistaAccount)
    params = dict(run.params)
    first_page = int(params.get("next_page") or 1)
    client = account_client(account=account, base_url=base_url)
    if first_page == 1 and not params.get("terminals_synced"):
        try:
            count = terminals_sync(account=account, client=client)
            step.checkpoint(params={"terminals_synced": True}, counters={"terminals": count})
        except VendistaError:
            raise
        except IntegrationError as exc:
            log.warning("vendista terminals of account %s not refreshed: %s", account.pk, untrusted(str(exc), 200))
    started = time_module.monotonic()
    complete = pages_sync(
        run=run,
        account=account,
        client=client,
        lease=step,
        start=datetime.fromisoformat(params["date_from"]),
        end=datetime.fromisoformat(params["date_to"]),
        first_page=first_page,
        done=int(params.get("done") or 0),
        deadline=step.deadline,
    )
    step.progress(add={"steps": 1, "seconds": round(time_module.monotonic() - started, 3)})
    if complete:
        VendistaAccount.objects.filter(pk=account.pk).update(
            last_sync_at=timezone.now(), last_error="", subscription_status=VendistaAccount.Subscription.ACTIVE
        )
    return complete


def transactions_error(run: SyncRun, exc: BaseException) -> None:
    account = sync_run_account(run=run, model=VendistaAccount)
    if account is not None and isinstance(exc, Exception):
        account_mark_error(account=account, exc=exc)


def transactions_sync(*, run: SyncRun, base_url: str | None = None) -> SyncRun:
    """Execute (or resume) a run in this process, start to end (tests, commands); the worker runs the
    same steps as a chain of messages (``vending.tasks.sync_run_execute``)."""
    return sync_run_execute(
        run=run,
        step=lambda step: transactions_step(step, base_url=base_url),
        retry=RETRY,
        on_error=transactions_error,
    )
