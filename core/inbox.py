"""One inbox for every inbound message (issue 22): verify at the edge → store → process → sweep.

A provider's delivery (a webhook, a callback) is verified by its edge, then stored as a row of a
concrete :class:`InboxMessage` model and processed by the inbox's handler, in a task or by the one
sweep. The row's ``status`` moves only along :data:`INBOX_TRANSITIONS` (``core.transitions``)::

    received ──► processing ──► processed | ignored
        │            │  ▲
        │            ▼  │
        │          retry ──► failed ──► processing (staff's retry)
        └──► processed | ignored      (covered by another message's work; retry too)
    rejected (forged: stored for the record, never processed)

Processing is claimed with a conditional UPDATE (received/retry → processing, ``attempts + 1``):
of two workers exactly one runs the handler. A handler that raises leaves the row ``retry`` with
``next_attempt_at`` pushed forward (exponential backoff) while attempts remain and the error is
retryable, else ``failed``; ``last_error`` says why. A worker that died mid-way leaves
``processing``: the sweep moves it to ``retry`` after ``stuck_after_seconds``.

Each inbox registers itself (:func:`inbox_register`) with its handler; :func:`inbox_sweep` takes the
due rows of every registered inbox (received and never picked up, or retry and due) with
``select_for_update(skip_locked=True)``, claims them in the same transaction, and processes them.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db import IntegrityError, models, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from core.exceptions import TransientError
from core.logging import untrusted
from core.transitions import StateTable, TransitionNotAllowed

log = logging.getLogger("core.inbox")


class InboxStatus(models.TextChoices):
    RECEIVED = "received", _("Received")
    PROCESSING = "processing", _("Processing")
    RETRY = "retry", _("Retrying")
    PROCESSED = "processed", _("Processed")
    IGNORED = "ignored", _("Ignored (no change)")
    FAILED = "failed", _("Failed")
    REJECTED = "rejected", _("Rejected (bad signature)")


INBOX_TRANSITIONS: dict[str, set[str]] = {
    # RECEIVED/RETRY → PROCESSED (IGNORED): covered by work done for another message (a sync read it).
    InboxStatus.RECEIVED: {InboxStatus.PROCESSING, InboxStatus.PROCESSED, InboxStatus.IGNORED},
    InboxStatus.PROCESSING: {InboxStatus.PROCESSED, InboxStatus.IGNORED, InboxStatus.RETRY, InboxStatus.FAILED},
    InboxStatus.RETRY: {InboxStatus.PROCESSING, InboxStatus.PROCESSED, InboxStatus.FAILED},
    InboxStatus.FAILED: {InboxStatus.PROCESSING},  # staff's "retry"
    InboxStatus.PROCESSED: set(),
    InboxStatus.IGNORED: set(),
    InboxStatus.REJECTED: set(),
}


class InboxMessage(models.Model):
    """The common fields of every inbox table; a concrete model adds its provider's fields."""

    status = models.CharField(
        max_length=16, choices=InboxStatus.choices, default=InboxStatus.RECEIVED, verbose_name=_("status")
    )
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    last_error = models.TextField(blank=True, default="", verbose_name=_("error / outcome"))
    next_attempt_at = models.DateTimeField(null=True, blank=True, verbose_name=_("next attempt at"))
    payload = models.JSONField(default=dict, verbose_name=_("payload"))
    received_at = models.DateTimeField(auto_now_add=True, db_index=True, verbose_name=_("received at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))

    class Meta:
        abstract = True


@dataclass(frozen=True)
class Handled:
    """What a handler made of a message: ``processed`` or ``ignored``, with a note for the record;
    ``after`` runs once the outcome is committed (a side effect that must follow the commit)."""

    status: str = InboxStatus.PROCESSED
    note: str = ""
    after: Callable[[], object] | None = None


def _transient(exc: Exception) -> bool:
    return isinstance(exc, TransientError)


@dataclass
class Inbox:
    """One registered inbox: its table, its handler and its retry policy.

    ``handler(row, **context)`` runs with the row claimed (``processing``) and returns
    :class:`Handled`; raising records the failure. ``on_failure(row, exc, retrying)`` is told of each
    failure (alerts, an account to reconnect) after it is recorded."""

    name: str
    model: type[InboxMessage]
    handler: Callable[..., Handled]
    max_attempts: Callable[[], int] | int = 5
    backoff_base_seconds: float = 5.0
    backoff_max_seconds: float = 600.0
    received_grace_seconds: float = 60.0  # a received row older than this lost its task message
    stuck_after_seconds: float = 300.0  # processing longer than this: its worker died
    retryable: Callable[[Exception], bool] = _transient
    on_failure: Callable[[Any, Exception, bool], None] | None = None
    # The claim, the handler's writes and the outcome in one transaction: a failure rolls back the
    # handler's work and the claim alike (payments: a payment's move and its delivery's mark).
    atomic: bool = False
    state: StateTable = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.state = StateTable(self.model, "status", INBOX_TRANSITIONS)

    @property
    def attempts_allowed(self) -> int:
        return self.max_attempts() if callable(self.max_attempts) else self.max_attempts

    def backoff(self, attempts: int) -> timedelta:
        """Before attempt ``attempts + 1``: base, 2·base, 4·base… up to the maximum."""
        seconds = min(self.backoff_max_seconds, self.backoff_base_seconds * 2 ** max(0, attempts - 1))
        return timedelta(seconds=seconds)


_INBOXES: dict[str, Inbox] = {}


def inbox_register(inbox: Inbox) -> Inbox:
    _INBOXES[inbox.name] = inbox
    return inbox


def inboxes_registered() -> list[Inbox]:
    return list(_INBOXES.values())


def inbox_store(*, inbox: Inbox, on_stored: Callable[[Any], None] | None = None, **fields: Any) -> Any | None:
    """Store a verified message once; None when a unique constraint says it is stored already (a
    redelivery). ``on_stored(row)`` runs once the row is stored, in the caller's transaction if there
    is one (enqueue with on_commit there: it then runs at that commit, or at once).

    Outside a transaction the INSERT is one statement that commits itself (autocommit): one round trip
    instead of BEGIN, INSERT, COMMIT on a webhook's answer (PERF-4). Inside one, a savepoint keeps the
    caller's transaction usable after a duplicate."""
    try:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                row = inbox.model.objects.create(**fields)  # type: ignore[attr-defined]
        else:
            row = inbox.model.objects.create(**fields)  # type: ignore[attr-defined]
    except IntegrityError:
        return None
    if on_stored is not None:
        on_stored(row)
    return row


def inbox_claim(*, inbox: Inbox, pk: Any, from_: Iterable[str] | None = None) -> bool:
    """received / retry (and failed, for staff's retry) → processing, counting the attempt: True if
    this caller has the row (one conditional UPDATE: of two callers, one wins). A task's own retry
    may claim a ``retry`` row before ``next_attempt_at``; the sweep takes only due ones."""
    sources = list(from_) if from_ is not None else [InboxStatus.RECEIVED, InboxStatus.RETRY, InboxStatus.FAILED]
    return inbox.state.move(pk=pk, to=InboxStatus.PROCESSING, from_=sources, attempts=F("attempts") + 1)


def inbox_fail(*, inbox: Inbox, pk: Any, error: str, retry: bool, now: datetime | None = None) -> str:
    """Record a failed attempt of a claimed row: ``retry`` with its next attempt pushed forward while
    attempts remain and ``retry`` is asked for, else ``failed``. Returns the status it is left in."""
    now = now or timezone.now()
    attempts = inbox.model.objects.filter(pk=pk).values_list("attempts", flat=True).first() or 0  # type: ignore[attr-defined]
    if retry and attempts < inbox.attempts_allowed:
        inbox.state.advance(
            pk=pk,
            to=InboxStatus.RETRY,
            from_=InboxStatus.PROCESSING,
            last_error=error[:2000],
            next_attempt_at=now + inbox.backoff(attempts),
        )
        return InboxStatus.RETRY
    inbox.state.advance(
        pk=pk, to=InboxStatus.FAILED, from_=InboxStatus.PROCESSING, last_error=error[:2000], next_attempt_at=None
    )
    return InboxStatus.FAILED


def inbox_process(
    *,
    inbox: Inbox,
    pk: Any,
    claimed: bool = False,
    final: bool = False,
    reraise: bool = False,
    context: Mapping[str, Any] | None = None,
) -> str:
    """:func:`inbox_run` for callers that need only the status left (or ``"not due"``)."""
    left, _ = inbox_run(inbox=inbox, pk=pk, claimed=claimed, final=final, reraise=reraise, context=context)
    return left


def inbox_run(
    *,
    inbox: Inbox,
    pk: Any,
    claimed: bool = False,
    final: bool = False,
    reraise: bool = False,
    context: Mapping[str, Any] | None = None,
) -> tuple[str, Handled | None]:
    """Claim (unless ``claimed``), run the handler, record the outcome; returns the status left, or
    ``"not due"`` when the row is not this caller's to process, with what the handler made of it.

    ``final``: no retry after this attempt (a task's last one). ``reraise``: a failure that leaves the
    row ``retry`` re-raises the handler's error, for a task's own retry. With ``inbox.atomic`` the
    claim, the handler and the outcome commit together or not at all (a failure is then recorded
    as a claimed attempt of its own)."""
    try:
        if inbox.atomic and not claimed:
            handled = _run_locked(inbox=inbox, pk=pk, context=context)
            if handled is None:
                return "not due", None
        else:
            with transaction.atomic() if inbox.atomic else contextlib.nullcontext():
                if not claimed and not inbox_claim(inbox=inbox, pk=pk):
                    return "not due", None
                row = inbox.model.objects.get(pk=pk)  # type: ignore[attr-defined]
                handled = inbox.handler(row, **(context or {}))
                inbox.state.advance(
                    pk=pk,
                    to=handled.status,
                    from_=InboxStatus.PROCESSING,
                    processed_at=timezone.now(),
                    last_error=handled.note[:2000],
                    next_attempt_at=None,
                )
    except Exception as exc:
        if inbox.atomic and not claimed and not inbox_claim(inbox=inbox, pk=pk):
            raise  # rolled back, and another worker has the row now: nothing of ours to record
        retry = inbox.retryable(exc) and not final
        error = f"{type(exc).__name__}: {exc}"
        left = inbox_fail(inbox=inbox, pk=pk, error=error, retry=retry)
        row = inbox.model.objects.get(pk=pk)  # type: ignore[attr-defined]
        log.warning(
            "%s message %s failed (attempt %d%s): %s",
            inbox.name,
            pk,
            row.attempts,
            ", will retry" if left == InboxStatus.RETRY else "",
            untrusted(error, 200),
        )
        if inbox.on_failure is not None:
            inbox.on_failure(row, exc, left == InboxStatus.RETRY)
        if reraise and left == InboxStatus.RETRY:
            raise
        return left, None
    if handled.after is not None:
        handled.after()
    return handled.status, handled


def _run_locked(*, inbox: Inbox, pk: Any, context: Mapping[str, Any] | None) -> Handled | None:
    """An atomic inbox's claim, handler and outcome in one transaction, with two statements of its
    own: the row read locked (``SELECT … FOR UPDATE``, the claim: of two callers, one has it until its
    commit) and one conditional UPDATE to the outcome, counting the attempt. ``processing`` would be
    seen by nobody (it never commits), so the row goes from its claimable state to the outcome in one
    write, each step of the move being in the table. None: the row is not claimable (done, or taken)."""
    claimable = inbox.state.sources(
        InboxStatus.PROCESSING, from_=[InboxStatus.RECEIVED, InboxStatus.RETRY, InboxStatus.FAILED]
    )
    with transaction.atomic():
        row = inbox.model.objects.select_for_update().filter(pk=pk, status__in=claimable).first()  # type: ignore[attr-defined]
        if row is None:
            return None
        handled = inbox.handler(row, **(context or {}))
        if not inbox.state.can(InboxStatus.PROCESSING, handled.status):
            raise TransitionNotAllowed(f"{inbox.name}: processing -> {handled.status} is not in the table")
        now = timezone.now()
        inbox.model.objects.filter(pk=pk, status=row.status).update(  # type: ignore[attr-defined]
            status=handled.status,
            attempts=F("attempts") + 1,
            processed_at=now,
            updated_at=now,
            last_error=handled.note[:2000],
            next_attempt_at=None,
        )
    return handled


def inbox_recover(*, inbox: Inbox, now: datetime | None = None) -> int:
    """Rows left ``processing`` by a worker that died go to ``retry``, due at once."""
    now = now or timezone.now()
    stale = now - timedelta(seconds=inbox.stuck_after_seconds)
    moved = 0
    for pk in inbox.model.objects.filter(status=InboxStatus.PROCESSING, updated_at__lt=stale).values_list(  # type: ignore[attr-defined]
        "pk", flat=True
    ):
        moved += bool(
            inbox.state.advance(
                pk=pk,
                to=InboxStatus.RETRY,
                from_=InboxStatus.PROCESSING,
                where={"updated_at__lt": stale},
                last_error="worker lost while processing",
                next_attempt_at=now,
            )
        )
    return moved


def inbox_due(*, inbox: Inbox, now: datetime | None = None, older_than_seconds: float | None = None) -> Q:
    now = now or timezone.now()
    grace = inbox.received_grace_seconds if older_than_seconds is None else older_than_seconds
    received = Q(status=InboxStatus.RECEIVED, received_at__lt=now - timedelta(seconds=grace))
    return received | Q(status=InboxStatus.RETRY, next_attempt_at__lte=now)


def inbox_take(
    *, inbox: Inbox, limit: int = 100, now: datetime | None = None, older_than_seconds: float | None = None
) -> list[Any]:
    """Claim up to ``limit`` due rows: locked with SKIP LOCKED (a concurrent sweep takes others) and
    moved to ``processing`` in the same transaction, so each due row is taken by one sweep only."""
    now = now or timezone.now()
    sources = inbox.state.sources(InboxStatus.PROCESSING, from_=[InboxStatus.RECEIVED, InboxStatus.RETRY])
    with transaction.atomic():
        rows = (
            inbox.model.objects.filter(  # type: ignore[attr-defined]
                inbox_due(inbox=inbox, now=now, older_than_seconds=older_than_seconds)
            )
            .order_by("received_at", "pk")
            .select_for_update(skip_locked=True)
        )
        ids = list(rows.values_list("pk", flat=True)[:limit])
        if ids:
            inbox.model.objects.filter(pk__in=ids, status__in=sources).update(  # type: ignore[attr-defined]
                status=InboxStatus.PROCESSING, attempts=F("attempts") + 1, updated_at=now
            )
    return ids


def inbox_sweep(
    *,
    inboxes: Iterable[Inbox] | None = None,
    limit: int = 100,
    budget_seconds: float = 45.0,
    older_than_seconds: float | None = None,
) -> dict[str, int]:
    """The one sweep: for each inbox (every registered one by default), recover rows a dead worker
    left, then take due rows one at a time and process each through the inbox's handler.

    One at a time: a row is claimed just before its handler runs, so a long batch never leaves
    claimed rows waiting long enough to look stuck to the next sweep. ``budget_seconds`` keeps a
    sweep within its period (the next one carries on); ``older_than_seconds`` overrides the inboxes'
    grace for received rows. Returns the rows processed per inbox."""
    started = time.monotonic()
    done: dict[str, int] = {}
    for inbox in inboxes if inboxes is not None else inboxes_registered():
        inbox_recover(inbox=inbox)
        count = 0
        while count < limit and time.monotonic() - started < budget_seconds:
            taken = inbox_take(inbox=inbox, limit=1, older_than_seconds=older_than_seconds)
            if not taken:
                break
            inbox_process(inbox=inbox, pk=taken[0], claimed=True)
            count += 1
        done[inbox.name] = count
    return done
