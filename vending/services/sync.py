"""Executing (or resuming) a queued transactions sync under the account's lock (VEN-2, VEN-3).

A run that dies half-way is resumed from its checkpoint by running it again: rows are upserted on
(account, term_id, vendista_id), so a page read twice changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import time as time_module
from datetime import datetime
from typing import Any

import redis
from django.conf import settings
from django.utils import timezone

from core.exceptions import IntegrationError
from core.logging import untrusted
from core.models import SyncRun
from core.services import sync_run_finish, sync_run_note, sync_run_start

from ..clients.vendista import VendistaError
from ..models import VendistaAccount
from .accounts import account_client, account_mark_error
from .pages import pages_sync
from .runs import lock_key, redis_client
from .terminals import terminals_sync

log = logging.getLogger(__name__)


def transactions_sync(*, run: SyncRun, base_url: str | None = None) -> SyncRun:
    """Execute (or resume) a queued run. Safe to call twice: the second one waits for or skips the lock."""
    account = VendistaAccount.objects.select_related("merchant").get(pk=int(run.account_ref))
    lock = redis_client().lock(lock_key(account.pk), timeout=settings.VENDISTA_SYNC_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        log.info("vendista sync of account %s already running; run %s left to it", account.pk, run.pk)
        return run
    try:
        return _sync_locked(run=run, account=account, lock=lock, base_url=base_url)
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


def _sync_locked(*, run: SyncRun, account: VendistaAccount, lock: Any, base_url: str | None) -> SyncRun:
    run.refresh_from_db()
    params = dict(run.params)
    first_page = int(params.get("next_page") or 1)
    done = int(params.get("done") or 0)
    if not sync_run_start(run=run, total=run.items_total, done=done):
        return run  # already finished
    started = time_module.monotonic()
    totals: dict[str, Any] = {
        "received": 0,
        "inserted": 0,
        "updated": 0,
        "pages": 0,
        "rollup_days": 0,
        "resumed_from_page": first_page,
    }
    client = account_client(account=account, base_url=base_url)
    try:
        if first_page == 1:
            try:
                totals["terminals"] = terminals_sync(account=account, client=client)
            except VendistaError:
                raise
            except IntegrationError as exc:
                log.warning("vendista terminals of account %s not refreshed: %s", account.pk, untrusted(str(exc), 200))
        pages_sync(
            run=run,
            account=account,
            client=client,
            lock=lock,
            start=datetime.fromisoformat(params["date_from"]),
            end=datetime.fromisoformat(params["date_to"]),
            first_page=first_page,
            done=done,
            totals=totals,
        )
    except Exception as exc:
        account_mark_error(account=account, exc=exc)
        totals["seconds"] = round(time_module.monotonic() - started, 3)
        if isinstance(exc, IntegrationError) and not exc.permanent:
            # Left running with its checkpoint: the task retries and resumes from next_page.
            sync_run_note(run=run, error=f"retrying: {exc}", counters=totals)
            raise
        sync_run_finish(run=run, error=f"{type(exc).__name__}: {exc}", counters=totals)
        raise
    totals["seconds"] = round(time_module.monotonic() - started, 3)
    VendistaAccount.objects.filter(pk=account.pk).update(
        last_sync_at=timezone.now(), last_error="", subscription_status=VendistaAccount.Subscription.ACTIVE
    )
    sync_run_finish(run=run, counters=totals)
    return run
