"""Writes of the core app: the SyncRun lifecycle (the only writer of ``SyncRun``) and key rotation.

Every app's sync goes through these helpers: ``sync_run_create`` (queued) → ``sync_run_start``
(running; also a resume) → ``sync_run_progress`` / ``sync_run_checkpoint`` while it works →
``sync_run_finish`` (succeeded or failed), or ``sync_run_note`` when it is left running for a retry.
``sync_run`` wraps the whole lifecycle around a block for syncs that run start to end in one call.
Status moves go through :data:`SYNC_RUN_STATUS` (compare-and-set), so a finished run is never
restarted or finished twice; progress is a single UPDATE with ``F()`` so concurrent reports add up.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from .models import Merchant, SyncRun
from .transitions import StateTable

log = logging.getLogger(__name__)

_Status = SyncRun.Status

SYNC_RUN_STATUS = StateTable(
    SyncRun,
    "status",
    {
        _Status.QUEUED: {_Status.RUNNING, _Status.FAILED},
        # running → running is a resume: the worker that ran it died and another picks it up.
        _Status.RUNNING: {_Status.RUNNING, _Status.SUCCEEDED, _Status.FAILED},
        _Status.SUCCEEDED: set(),
        _Status.FAILED: set(),
    },
)
UNFINISHED = (_Status.QUEUED, _Status.RUNNING)


def sync_run_create(
    *, merchant: Merchant, kind: str, account_ref: str = "", mode: str = "", params: dict[str, Any] | None = None
) -> SyncRun:
    return SyncRun.objects.create(
        merchant=merchant, kind=kind, account_ref=str(account_ref), mode=mode, params=params or {}
    )


def sync_run_start(*, run: SyncRun, total: int | None = None, done: int | None = None) -> bool:
    """Mark a queued (or resumed) run running; ``False`` when it is already finished (nothing to do).

    ``done`` restores the progress of a resumed run from its checkpoint.
    """
    now = timezone.now()
    changes: dict[str, Any] = {"started_at": now, "items_total": total, "finished_at": None, "error": ""}
    if done is not None:
        changes["items_done"] = done
    if SYNC_RUN_STATUS.advance(pk=run.pk, to=_Status.RUNNING, **changes) is None:
        run.refresh_from_db()
        return False
    run.status = _Status.RUNNING
    for key, value in changes.items():
        setattr(run, key, value)
    return True


def sync_run_progress(
    *, run: SyncRun, done: int = 0, total: int | None = None, counters: dict[str, Any] | None = None
) -> None:
    """Add ``done`` items (one UPDATE with ``F()``: concurrent reporters never lose counts), optionally
    set the total, and merge ``counters`` into the run's (``sync_run_finish`` keeps them)."""
    changes: dict[str, Any] = {}
    if done:
        changes["items_done"] = F("items_done") + done
    if total is not None:
        changes["items_total"] = total
    if counters:
        run.refresh_from_db(fields=["counters"])
        run.counters = {**run.counters, **counters}
        changes["counters"] = run.counters
    if changes:
        SyncRun.objects.filter(pk=run.pk).update(**changes)
    run.items_done += done
    if total is not None:
        run.items_total = total


def sync_run_checkpoint(
    *, run: SyncRun, params: dict[str, Any], done: int | None = None, total: int | None = None
) -> None:
    """Merge ``params`` (where a resume starts) into the run; ``done`` sets the progress absolutely."""
    merged = {**run.params, **params}
    changes: dict[str, Any] = {"params": merged}
    if done is not None:
        changes["items_done"] = done
    if total is not None:
        changes["items_total"] = total
    SyncRun.objects.filter(pk=run.pk).update(**changes)
    run.params = merged
    for key, value in changes.items():
        if key != "params":
            setattr(run, key, value)


def sync_run_note(*, run: SyncRun, error: str = "", counters: dict[str, Any] | None = None) -> None:
    """Record counters and a message on a run left running (e.g. "retrying: ..." before a task retry)."""
    run.refresh_from_db(fields=["counters"])
    run.counters = {**run.counters, **(counters or {})}
    run.error = error[:4000]
    SyncRun.objects.filter(pk=run.pk).update(counters=run.counters, error=run.error)


def sync_run_finish(*, run: SyncRun, error: str = "", counters: dict[str, Any] | None = None) -> bool:
    """Succeed (no ``error``) or fail an unfinished run; ``False`` if it was already finished."""
    run.refresh_from_db(fields=["counters"])
    changes: dict[str, Any] = {
        "finished_at": timezone.now(),
        "error": error[:4000],
        "counters": {**run.counters, **(counters or {})},
    }
    if not error:
        changes["items_total"] = Coalesce(F("items_total"), F("items_done"))
    moved = SYNC_RUN_STATUS.advance(pk=run.pk, to=_Status.FAILED if error else _Status.SUCCEEDED, **changes)
    if moved is None:
        log.info("sync run %s was already finished", run.pk)
    run.refresh_from_db()
    return moved is not None


@contextmanager
def sync_run(
    *,
    merchant: Merchant,
    kind: str,
    account_ref: str = "",
    mode: str = "",
    run: SyncRun | None = None,
    params: dict[str, Any] | None = None,
) -> Iterator[SyncRun]:
    """Wrap a sync in one run: marked running, then succeeded, or failed with the error's text (re-raised)."""
    run = run or sync_run_create(merchant=merchant, kind=kind, account_ref=account_ref, mode=mode, params=params)
    if not sync_run_start(run=run, total=run.items_total):
        log.info("sync run %s (%s) is already finished; running it again does not reopen it", run.pk, kind)
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
