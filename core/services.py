"""Writes of the core app: the SyncRun lifecycle (the only writer of ``SyncRun``) and key rotation.

Every app's sync goes through these helpers: ``sync_run_create`` (queued) → executed by
``core.steps`` in short steps under a lease (``sync_run_lease_take`` / ``_extend`` / ``_handoff``),
each step writing its checkpoint and counters with ``sync_run_checkpoint`` → ``sync_run_finish``
(succeeded or failed), or ``sync_run_retrying`` when a transient error leaves it for a retry.
Status moves go through :data:`SYNC_RUN_STATUS` (compare-and-set), so a finished run is never
restarted or finished twice; progress and counters are single UPDATEs (``F()`` and jsonb
operators), so concurrent reports add up and no key is lost. Lease times use the database's clock.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from django.db.models import DateTimeField, F, Func, Model, Q
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Now

from .models import Merchant, SyncRun
from .transitions import StateTable

log = logging.getLogger(__name__)

_Status = SyncRun.Status

SYNC_RUN_STATUS = StateTable(
    SyncRun,
    "status",
    {
        _Status.QUEUED: {_Status.RUNNING, _Status.FAILED},
        # running → running: the next step, or a resume after its lease expired (a killed worker).
        _Status.RUNNING: {_Status.RUNNING, _Status.RETRYING, _Status.SUCCEEDED, _Status.FAILED},
        # A transient error: its retry takes the lease again (→ running); failed only when abandoned.
        _Status.RETRYING: {_Status.RUNNING, _Status.FAILED},
        _Status.SUCCEEDED: set(),
        _Status.FAILED: set(),
    },
)
UNFINISHED = (_Status.QUEUED, _Status.RUNNING, _Status.RETRYING)
# A queued run without a lease is left to its message for this long before a sweep re-drives it.
QUEUED_GRACE = timedelta(minutes=10)


class LeaseLost(Exception):
    """The run's lease moved to another execution (or the run ended): stop without writing anything."""


class ClockNow(Func):
    """The database's wall clock (``clock_timestamp()``); ``now()`` would be the start of the enclosing
    transaction, and a lease compared with that never expires inside a long transaction."""

    template = "clock_timestamp()"
    output_field = DateTimeField()


def _in(seconds: float) -> Any:
    return ClockNow() + timedelta(seconds=seconds)


def _counters_sql(*, merge: dict[str, Any] | None = None, add: Mapping[str, float] | None = None) -> RawSQL | None:
    """``counters`` with ``merge`` set and ``add`` added, as one SQL expression (atomic in its UPDATE)."""
    sql, params = "counters", list[Any]()
    if merge:
        sql = f"({sql} || %s::jsonb)"
        params.append(json.dumps(merge, default=str))
    for key, value in (add or {}).items():
        sql = f"({sql} || jsonb_build_object(%s::text, COALESCE((counters->>%s)::numeric, 0) + %s))"
        params += [key, key, value]
    # Only placeholders are interpolated: keys and values travel as parameters.
    return RawSQL(sql, params) if params else None  # noqa: S611


def sync_run_create(
    *,
    merchant: Merchant,
    kind: str,
    account: Model | None = None,
    mode: str = "",
    params: dict[str, Any] | None = None,
) -> SyncRun:
    """A queued run of ``kind``; ``account`` is what it syncs (a Vendista account, a Kaspi store ...)."""
    return SyncRun.objects.create(merchant=merchant, kind=kind, account=account, mode=mode, params=params or {})


def sync_run_lease_take(*, run: SyncRun, token: str, ticket: str = "", seconds: float) -> bool:
    """Take the run's lease for ``token`` and mark it running, if it is unfinished and its lease is free:
    never taken, expired (its holder died), or handed to ``ticket`` (the step message this execution
    came with). One conditional UPDATE: of two deliveries of the same message, one wins."""
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=ClockNow())
    if ticket:
        free |= Q(lease_token=ticket)
    moved = SYNC_RUN_STATUS.move(
        pk=run.pk,
        to=_Status.RUNNING,
        where=free,
        lease_token=token,
        lease_until=_in(seconds),
        started_at=Coalesce(F("started_at"), Now()),
        finished_at=None,
    )
    run.refresh_from_db()
    return moved


def sync_run_lease_extend(*, run: SyncRun, token: str, seconds: float) -> bool:
    """The heartbeat: push the lease forward while ``token`` still holds it (``False``: it was lost)."""
    return bool(
        SyncRun.objects.filter(pk=run.pk, lease_token=token, status=_Status.RUNNING).update(lease_until=_in(seconds))
    )


def sync_run_lease_handoff(*, run: SyncRun, token: str, ticket: str, seconds: float) -> bool:
    """Give the lease to the next step's message (``ticket``); it is free for anyone after ``seconds``."""
    return bool(
        SyncRun.objects.filter(pk=run.pk, lease_token=token, status=_Status.RUNNING).update(
            lease_token=ticket, lease_until=_in(seconds)
        )
    )


def sync_run_is_stale(*, run: SyncRun) -> bool:
    """Unfinished and nobody executes it or is about to: its lease expired (the worker died, or the
    message was lost), or it was queued long ago and never leased. Such a run is re-driven."""
    fresh = SyncRun.objects.filter(pk=run.pk, status__in=UNFINISHED).first()
    if fresh is None:
        return False
    if fresh.lease_until is None:
        return fresh.status != _Status.QUEUED or fresh.created_at < _db_now() - QUEUED_GRACE
    return fresh.lease_until < _db_now()


def _db_now() -> Any:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT clock_timestamp()")
        return cursor.fetchone()[0]


def _leased(run: SyncRun, token: str | None) -> Any:
    rows = SyncRun.objects.filter(pk=run.pk)
    return rows.filter(lease_token=token, status=_Status.RUNNING) if token else rows


def sync_run_progress(
    *,
    run: SyncRun,
    done: int = 0,
    total: int | None = None,
    counters: dict[str, Any] | None = None,
    add: Mapping[str, float] | None = None,
    token: str | None = None,
) -> None:
    """Add ``done`` items, optionally set the total, set the keys of ``counters`` and add ``add`` to
    counters, all in one UPDATE computed by the database (``F()`` and jsonb operators, never a read in
    Python): concurrent reporters lose neither counts nor keys. With ``token``, only while it holds the
    lease (else :class:`LeaseLost`)."""
    changes: dict[str, Any] = {}
    if done:
        changes["items_done"] = F("items_done") + done
    if total is not None:
        changes["items_total"] = total
    expression = _counters_sql(merge=counters, add=add)
    if expression is not None:
        changes["counters"] = expression
    if changes and not _leased(run, token).update(**changes) and token:
        raise LeaseLost(f"sync run {run.pk}: lease lost")
    run.items_done += done
    if total is not None:
        run.items_total = total
    if expression is not None:
        run.refresh_from_db(fields=["counters"])


def sync_run_checkpoint(
    *,
    run: SyncRun,
    params: dict[str, Any],
    done: int | None = None,
    total: int | None = None,
    add: Mapping[str, float] | None = None,
    counters: dict[str, Any] | None = None,
    token: str | None = None,
) -> None:
    """Merge ``params`` (where a resume starts) into the run; ``done`` sets the progress absolutely;
    ``add`` / ``counters`` move the counters of the work this checkpoint covers, in the same UPDATE, so
    work is counted exactly once whatever is re-read after a crash. With ``token``, only while it holds
    the lease (else :class:`LeaseLost`: another execution owns the run now)."""
    merged = {**run.params, **params}
    changes: dict[str, Any] = {"params": merged}
    if done is not None:
        changes["items_done"] = done
    if total is not None:
        changes["items_total"] = total
    expression = _counters_sql(merge=counters, add=add)
    if expression is not None:
        changes["counters"] = expression
    if not _leased(run, token).update(**changes) and token:
        raise LeaseLost(f"sync run {run.pk}: lease lost")
    run.params = merged
    for key in ("items_done", "items_total"):
        if key in changes:
            setattr(run, key, changes[key])
    if expression is not None:
        run.refresh_from_db(fields=["counters"])


def sync_run_retrying(*, run: SyncRun, error: str, token: str | None = None, ticket: str = "", seconds: float) -> bool:
    """A transient error: the run is visibly RETRYING with its last error and one more attempt; its lease
    goes to the retry's message (``ticket``) for ``seconds`` (the countdown and a margin), after which
    anyone may resume it. ``False`` if it was not running (finished, or ``token`` lost the lease)."""
    moved = SYNC_RUN_STATUS.move(
        pk=run.pk,
        to=_Status.RETRYING,
        from_=_Status.RUNNING,
        where=Q(lease_token=token) if token else None,
        error=f"retrying: {error}"[:4000],
        attempts=F("attempts") + 1,
        lease_token=ticket,
        lease_until=_in(seconds),
    )
    run.refresh_from_db()
    return moved


def sync_run_finish(
    *, run: SyncRun, error: str = "", counters: dict[str, Any] | None = None, token: str | None = None
) -> bool:
    """Succeed (no ``error``) or fail an unfinished run; ``False`` if it was already finished (or, with
    ``token``, if that execution no longer holds the lease)."""
    changes: dict[str, Any] = {
        "finished_at": Now(),
        "error": error[:4000],
        "lease_token": "",
        "lease_until": None,
    }
    expression = _counters_sql(merge=counters)
    if expression is not None:
        changes["counters"] = expression
    if not error:
        changes["items_total"] = Coalesce(F("items_total"), F("items_done"))
    moved = SYNC_RUN_STATUS.move(
        pk=run.pk,
        to=_Status.FAILED if error else _Status.SUCCEEDED,
        where=Q(lease_token=token) if token else None,
        **changes,
    )
    if not moved:
        log.info("sync run %s was already finished (or its lease moved on)", run.pk)
    run.refresh_from_db()
    return moved


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
