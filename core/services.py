"""Writes of the core app: SyncRun lifecycle."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.utils import timezone

from .models import Merchant, SyncRun

log = logging.getLogger(__name__)


def sync_run_create(
    *, merchant: Merchant, kind: str, account_ref: str = "", mode: str = "", params: dict[str, Any] | None = None
) -> SyncRun:
    return SyncRun.objects.create(
        merchant=merchant, kind=kind, account_ref=str(account_ref), mode=mode, params=params or {}
    )


def sync_run_start(*, run: SyncRun, total: int | None = None) -> SyncRun:
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(
        status=SyncRun.Status.RUNNING, started_at=now, items_total=total, finished_at=None, error=""
    )
    run.status, run.started_at, run.items_total, run.finished_at, run.error = (
        SyncRun.Status.RUNNING, now, total, None, ""
    )
    return run


def sync_run_progress(*, run: SyncRun, done: int = 0, total: int | None = None) -> SyncRun:
    """Report progress ("X of Y") of a running sync: ``done`` more items, and the total once known."""
    if total is not None and not done:
        run.set_total(total)
    else:
        run.advance(done, total=total)
    return run


def sync_run_finish(
    *, run: SyncRun, error: str = "", counters: dict[str, Any] | None = None
) -> SyncRun:
    run.refresh_from_db(fields=["items_done", "items_total", "counters"])
    run.status = SyncRun.Status.FAILED if error else SyncRun.Status.SUCCEEDED
    run.finished_at = timezone.now()
    run.error = error[:4000]
    if counters:
        run.counters = {**run.counters, **counters}
    if not error and run.items_total is None:
        run.items_total = run.items_done
    run.save(update_fields=["status", "finished_at", "error", "counters", "items_total"])
    return run


@contextmanager
def sync_run(
    *, merchant: Merchant, kind: str, account_ref: str = "", mode: str = "", run: SyncRun | None = None,
    params: dict[str, Any] | None = None,
) -> Iterator[SyncRun]:
    """Wrap a sync: the run is marked running, then succeeded or failed with the error text."""
    run = run or sync_run_create(merchant=merchant, kind=kind, account_ref=account_ref, mode=mode, params=params)
    sync_run_start(run=run, total=run.items_total)
    try:
        yield run
    except Exception as exc:
        log.warning("sync run %s (%s) failed: %s", run.pk, kind, type(exc).__name__)
        sync_run_finish(run=run, error=f"{type(exc).__name__}: {exc}")
        raise
    else:
        sync_run_finish(run=run)


def encrypted_values_rotate() -> int:
    """Re-encrypt every stored secret under the first key of FIELD_ENCRYPTION_KEYS.

    Works on the raw ciphertext column, so the plaintext never leaves ``core.crypto``. After it
    has run, old keys can be dropped from the setting.
    """
    from django.db import connection, transaction

    from . import crypto
    from .fields import encrypted_fields

    total = 0
    for model, attname in encrypted_fields():
        table = connection.ops.quote_name(model._meta.db_table)
        field = model._meta.get_field(attname)
        column = connection.ops.quote_name(str(getattr(field, "column", attname)))
        pk = connection.ops.quote_name(str(model._meta.pk.column if model._meta.pk else "id"))
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
            for row_id, token in cursor.fetchall():
                cursor.execute(f"UPDATE {table} SET {column} = %s WHERE {pk} = %s", [crypto.rotate(token), row_id])  # noqa: S608
                total += 1
    return total
