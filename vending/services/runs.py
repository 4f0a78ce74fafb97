"""Sync runs of Vendista transactions: windows, requests, the per-account lock, periodic jobs (VEN-3).

A sync is a ``SyncRun`` (kind :attr:`SyncKind.TRANSACTIONS`) whose ``params`` hold the fixed window
(local naive datetimes in the account's zone) and a checkpoint (``next_page``, ``done``). Runs are
written only through ``core.services`` and executed by ``core.steps`` under the run's lease (which
replaced the per-account Redis lock: one run per account is kept by ``sync_request``).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.models import SyncRun
from core.selectors import sync_runs_of
from core.services import UNFINISHED, sync_run_create
from core.services import sync_run_is_stale as run_is_stale
from core.steps import sync_run_redrive

from ..models import SyncKind, SyncMode, Transaction, VendistaAccount

LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"


def _local(value: datetime) -> str:
    return value.strftime(LOCAL_FORMAT)


def sync_window(
    *, account: VendistaAccount, mode: str, date_from: date | None = None, date_to: date | None = None
) -> tuple[datetime, datetime]:
    """The (local, naive) window a new run reads; frozen into the run so a resume reads the same."""
    now_local = timezone.now().astimezone(account.zone).replace(tzinfo=None, microsecond=0)
    if mode == SyncMode.RANGE:
        start = datetime.combine(date_from or now_local.date(), time.min)
        end = datetime.combine(date_to or now_local.date(), time(23, 59, 59))
        return start, min(end, now_local)
    if mode == SyncMode.INCREMENTAL:
        newest = Transaction.objects.filter(account=account).aggregate(newest=Max("time"))["newest"]
        if newest is None:
            start = now_local - timedelta(days=settings.VENDISTA_INITIAL_SYNC_DAYS)
        else:
            overlap = timedelta(minutes=settings.VENDISTA_INCREMENTAL_OVERLAP_MINUTES)
            start = newest.astimezone(account.zone).replace(tzinfo=None, microsecond=0) - overlap
        return start, now_local
    return datetime.fromisoformat(settings.VENDISTA_HISTORY_START), now_local


def sync_request(
    *,
    account: VendistaAccount,
    mode: str = SyncMode.INCREMENTAL,
    date_from: date | None = None,
    date_to: date | None = None,
    enqueue: bool = True,
) -> SyncRun:
    """Create a queued run and enqueue it after commit, or return the account's unfinished one: one
    sync per account at a time (its lease keeps one execution per run). An unfinished run nobody
    executes any more (its worker died) is enqueued again and resumes from its checkpoint."""
    unfinished = sync_runs_of(account).filter(kind=SyncKind.TRANSACTIONS, status__in=UNFINISHED).first()
    if unfinished is not None:
        if enqueue and sync_run_is_stale(run=unfinished):
            from ..tasks import sync_run_execute

            transaction.on_commit(lambda: sync_run_execute.delay(unfinished.pk))
        return unfinished
    start, end = sync_window(account=account, mode=mode, date_from=date_from, date_to=date_to)
    run = sync_run_create(
        merchant=account.merchant,
        kind=SyncKind.TRANSACTIONS,
        account=account,
        mode=mode,
        params={"date_from": _local(start), "date_to": _local(end), "next_page": 1, "done": 0},
    )
    if enqueue:
        from ..tasks import sync_run_execute

        transaction.on_commit(lambda: sync_run_execute.delay(run.pk))
    return run


def sync_run_is_stale(*, run: SyncRun) -> bool:
    """Unfinished and nobody executes it (its lease expired: the worker running it died)."""
    return run_is_stale(run=run)


def sync_run_resume_stale() -> list[int]:
    """Re-enqueue unfinished runs whose worker died (their lease expired); they resume from the checkpoint."""
    from ..tasks import sync_run_execute

    return sync_run_redrive(kinds=[SyncKind.TRANSACTIONS], task=sync_run_execute)


def sync_incremental_all() -> list[int]:
    resumed = SyncRun.objects.filter(pk__in=sync_run_resume_stale()).values_list("account_id", flat=True)
    busy = set(resumed)  # accounts whose interrupted run was just enqueued again: it is their sync
    runs = []
    for account in VendistaAccount.objects.filter(is_active=True).select_related("merchant"):
        if account.subscription_status == VendistaAccount.Subscription.UNPAID and account.last_sync_at is None:
            continue
        if account.pk in busy:
            continue
        runs.append(sync_request(account=account, mode=SyncMode.INCREMENTAL).pk)
    return runs


def sync_nightly_due() -> list[int]:
    """Hourly: accounts whose local clock reads 00:xx get the previous days re-read (VEN-3)."""
    now = timezone.now()
    runs = []
    for account in VendistaAccount.objects.filter(is_active=True).select_related("merchant"):
        local = now.astimezone(account.zone)
        if local.hour != 0:
            continue
        yesterday = local.date() - timedelta(days=1)
        first = yesterday - timedelta(days=max(0, settings.VENDISTA_NIGHTLY_DAYS - 1))
        runs.append(sync_request(account=account, mode=SyncMode.RANGE, date_from=first, date_to=yesterday).pk)
    return runs
