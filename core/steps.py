"""Long syncs as chains of short steps under a lease: the one executor of every app's sync (SPEC PLAT-14).

A sync is a ``SyncRun`` plus a *step function* ``step(step: Step) -> bool``: it does a bounded piece of
work (one page, one window, one batch) from the checkpoint in ``step.run.params``, writes the new
checkpoint and the counters of that piece with ``step.checkpoint(...)``, and answers ``True`` once the
run's work is complete. The executor (:func:`sync_run_drive`, wrapped into a Celery task by
:func:`sync_step_task`) guarantees:

- **No message outlives the broker's visibility timeout.** One task message runs steps for at most
  ``SYNC_STEP_SECONDS`` (then hands over to a new message, chained), under a soft time limit of half
  the visibility timeout; retry countdowns are capped below it too.
- **At most one execution of a run at any moment.** A message takes the run's lease (one conditional
  UPDATE) before any work; a heartbeat thread keeps it ``SYNC_LEASE_SECONDS`` ahead. A redelivered or
  duplicate message finds the lease held and leaves (after re-checking once the lease could have
  expired). At the end of its time a message hands the lease to the next message's *ticket*, so only
  that message may go on. Checkpoints and counters are written only by the lease holder.
- **A killed worker's run resumes from its checkpoint.** Its heartbeat stops, the lease expires, and
  the redelivered message (or a sweep calling :func:`sync_run_redrive`) takes it over and resumes
  from the last checkpoint: at most the work since that checkpoint is done twice, and counted once.
- **A transient error leaves the run RETRYING** (with its last error) and queues a retry with
  backoff that resumes from the checkpoint; a permanent error, or the last retry, fails it.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import Any, TypeVar

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Model

from .exceptions import TransientError
from .http import single_attempt
from .models import SyncRun
from .selectors import sync_run_account
from .services import (
    SYNC_RUN_STATUS,
    UNFINISHED,
    LeaseLost,
    sync_run_checkpoint,
    sync_run_finish,
    sync_run_is_stale,
    sync_run_lease_extend,
    sync_run_lease_handoff,
    sync_run_lease_take,
    sync_run_progress,
    sync_run_retrying,
)

log = logging.getLogger(__name__)

__all__ = [
    "AccountMissing",
    "LeaseLost",
    "Step",
    "StepRetry",
    "sync_run_drive",
    "sync_run_execute",
    "sync_run_redrive",
    "sync_step_task",
]

M = TypeVar("M", bound=Model)


class AccountMissing(Exception):
    """The run names no account of the model its sync needs, or that account is gone: the run fails."""


@dataclass(frozen=True)
class StepRetry:
    """What a sync's errors do. ``retry_on`` errors (not ``permanent``, not ``never``) leave the run
    RETRYING and are retried ``max_retries`` times with exponential backoff and jitter; anything else
    fails the run. ``single_attempt``: the executor is the retry layer, so HTTP calls inside a step
    make one attempt each (``core.http``); ``False`` for clients that retry themselves (eMAG)."""

    max_retries: int = 5
    backoff: float = 10.0
    backoff_max: float = 300.0
    retry_on: tuple[type[BaseException], ...] = (TransientError,)
    never: tuple[type[BaseException], ...] = ()
    single_attempt: bool = True

    def transient(self, exc: BaseException) -> bool:
        return (
            isinstance(exc, self.retry_on) and not isinstance(exc, self.never) and not getattr(exc, "permanent", False)
        )

    def countdown(self, attempt: int) -> float:
        """Seconds before retry number ``attempt`` (1-based): "equal jitter" under a doubling ceiling,
        never longer than SYNC_RETRY_COUNTDOWN_MAX, 0.4 of the visibility timeout (a waiting message
        must not be redelivered)."""
        ceiling = min(self.backoff_max, self.backoff * 2 ** max(0, attempt - 1), settings.SYNC_RETRY_COUNTDOWN_MAX)
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass
class Step:
    """What a step function gets: the run (with its checkpoint in ``params``), and the lease it holds."""

    run: SyncRun
    token: str
    deadline: float  # time.monotonic(): a step function that loops stops taking new work past it
    lost: threading.Event = field(default_factory=threading.Event)
    _account: Model | None = field(default=None, repr=False)  # read again by each step (_steps)

    def account(self, model: type[M]) -> M:
        """The run's account (a ``model``), read once per step, so a step sees what the previous one
        wrote to it; :class:`AccountMissing` fails the run if it names none or it is gone."""
        if not isinstance(self._account, model):
            self._account = sync_run_account(run=self.run, model=model)
            if self._account is None:
                raise AccountMissing(f"sync run {self.run.pk}: no {model._meta.label} {self.run.account_id}")
        return self._account

    def over(self) -> bool:
        return time.monotonic() >= self.deadline or self.lost.is_set()

    def checkpoint(
        self,
        *,
        params: dict[str, Any] | None = None,
        done: int | None = None,
        total: int | None = None,
        add: Mapping[str, float] | None = None,
        counters: dict[str, Any] | None = None,
    ) -> None:
        """Record where the next step starts and what this one did, only while the lease is held."""
        sync_run_checkpoint(
            run=self.run, params=params or {}, done=done, total=total, add=add, counters=counters, token=self.token
        )

    def progress(self, *, done: int = 0, total: int | None = None, add: Mapping[str, float] | None = None) -> None:
        sync_run_progress(run=self.run, done=done, total=total, add=add, token=self.token)

    def extend(self, *_: Any, **__: Any) -> None:
        """Renew the lease now (long loops call it between pages); :class:`LeaseLost` if it moved on."""
        if self.lost.is_set() or not sync_run_lease_extend(
            run=self.run, token=self.token, seconds=settings.SYNC_LEASE_SECONDS
        ):
            self.lost.set()
            raise LeaseLost(f"sync run {self.run.pk}: lease lost")


StepFn = Callable[[Step], bool]
ErrorHook = Callable[[SyncRun, BaseException], None]


class _Heartbeat(threading.Thread):
    """Keeps the lease ahead while the step runs, on its own connection; sets ``lost`` when it moved."""

    def __init__(self, run: SyncRun, token: str, lost: threading.Event) -> None:
        super().__init__(name=f"sync-lease-{run.pk}", daemon=True)
        self.run_ref, self.token, self.lost = run, token, lost
        self.stopped = threading.Event()

    def run(self) -> None:
        seconds = settings.SYNC_LEASE_SECONDS
        try:
            while not self.stopped.wait(seconds / 3):
                try:
                    if not sync_run_lease_extend(run=self.run_ref, token=self.token, seconds=seconds) and self._moved():
                        self.lost.set()
                        return
                except Exception:  # a database blip: try again at the next beat, the lease has margin
                    log.warning("sync run %s: lease heartbeat failed", self.run_ref.pk, exc_info=True)
                    close_old_connections()
        finally:
            connection.close()

    def _moved(self) -> bool:
        """The run is visible and no longer ours. (A run created in a transaction the executing thread
        has not committed is invisible here: that execution alone can see it, so nothing is lost.)"""
        row = SyncRun.objects.filter(pk=self.run_ref.pk).values("lease_token", "status").first()
        return row is not None and (row["lease_token"] != self.token or row["status"] != SyncRun.Status.RUNNING)

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=10)


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


def _record(on_error: ErrorHook | None, run: SyncRun, exc: BaseException) -> None:
    if on_error is None:
        return
    try:
        on_error(run, exc)
    except Exception:
        log.exception("sync run %s: recording the error on its account failed", run.pk)


def _steps(step: StepFn, current: Step, retry: StepRetry) -> bool:
    """Run steps until the work is complete (``True``) or the message's time is up (``False``)."""
    with single_attempt() if retry.single_attempt else nullcontext():
        while True:
            current._account = None
            if step(current):
                return True
            if current.lost.is_set():
                raise LeaseLost(f"sync run {current.run.pk}: lease lost")
            if current.over():
                return False
            current.run.refresh_from_db(fields=["params"])


def sync_run_drive(
    *,
    task: Any,
    run_id: int,
    ticket: str,
    kinds: str | Iterable[str],
    step: StepFn,
    retry: StepRetry,
    on_error: ErrorHook | None = None,
    recheck: int = 0,
) -> dict[str, Any]:
    """One task message's worth of a run: take the lease, run steps until done or time is up, then
    finish the run, or hand the lease and the rest to the next message (``task`` with a new ticket)."""
    wanted = [kinds] if isinstance(kinds, str) else list(kinds)
    run = SyncRun.objects.filter(pk=run_id, kind__in=wanted).first()
    if run is None:
        return {"run_id": run_id, "status": "missing"}
    if run.status in SYNC_RUN_STATUS.terminal:
        return {"run_id": run_id, "status": run.status}  # a late duplicate: nothing to do
    token = uuid.uuid4().hex
    lease = settings.SYNC_LEASE_SECONDS
    if not sync_run_lease_take(run=run, token=token, ticket=ticket, seconds=lease):
        return _busy(task=task, run=run, ticket=ticket, recheck=recheck)
    current = Step(run=run, token=token, deadline=time.monotonic() + settings.SYNC_STEP_SECONDS)
    heartbeat = _Heartbeat(run, token, current.lost)
    heartbeat.start()
    try:
        complete = _steps(step, current, retry)
    except LeaseLost:
        log.warning("sync run %s: lease lost to another execution; this one stops", run_id)
        return {"run_id": run_id, "status": "lease-lost"}
    except SoftTimeLimitExceeded:
        complete = False  # a step overran: the next message resumes from the last checkpoint
    except Exception as exc:
        heartbeat.stop()
        return _failed(task=task, run=run, token=token, exc=exc, retry=retry, on_error=on_error)
    finally:
        heartbeat.stop()
    if complete:
        sync_run_finish(run=run, token=token)
        return {"run_id": run_id, "status": run.status, "items_done": run.items_done}
    following = uuid.uuid4().hex
    if sync_run_lease_handoff(run=run, token=token, ticket=following, seconds=lease):
        task.apply_async((run_id, following))
        return {"run_id": run_id, "status": "continued", "items_done": run.items_done}
    return {"run_id": run_id, "status": "lease-lost"}


def _busy(*, task: Any, run: SyncRun, ticket: str, recheck: int) -> dict[str, Any]:
    """The lease is held. If it belongs to a live execution this message is a duplicate and leaves; but
    a message requeued at once after its worker process died finds that dead worker's lease still
    running for a while: it looks again once the lease could have expired (twice at most)."""
    if run.status in UNFINISHED and run.lease_until is not None and recheck < 2:
        task.apply_async((run.pk, ticket), {"recheck": recheck + 1}, countdown=settings.SYNC_LEASE_SECONDS + 1)
    log.info("sync run %s is leased by another execution; this delivery leaves it", run.pk)
    return {"run_id": run.pk, "status": "busy"}


def _failed(
    *, task: Any, run: SyncRun, token: str, exc: BaseException, retry: StepRetry, on_error: ErrorHook | None
) -> dict[str, Any]:
    _record(on_error, run, exc)
    run.refresh_from_db()
    if retry.transient(exc) and run.attempts < retry.max_retries:
        countdown = retry.countdown(run.attempts + 1)
        following = uuid.uuid4().hex
        if sync_run_retrying(
            run=run,
            error=_error_text(exc),
            token=token,
            ticket=following,
            seconds=countdown + settings.SYNC_LEASE_SECONDS,
        ):
            task.apply_async((run.pk, following), countdown=countdown)
            log.warning(
                "sync run %s (%s): retry %s in %.0f s after %s",
                run.pk,
                run.kind,
                run.attempts,
                countdown,
                type(exc).__name__,
            )
        return {"run_id": run.pk, "status": "retrying", "error": type(exc).__name__}
    sync_run_finish(run=run, error=_error_text(exc), token=token)
    log.warning("sync run %s (%s) failed: %s", run.pk, run.kind, type(exc).__name__)
    return {"run_id": run.pk, "status": "failed", "error": type(exc).__name__}


def sync_run_execute(
    *, run: SyncRun, step: StepFn, retry: StepRetry | None = None, on_error: ErrorHook | None = None
) -> SyncRun:
    """Execute a whole run in this process (tests, commands, the demo): the same lease and steps
    without a deadline. A transient error leaves it RETRYING and is raised (calling again resumes it
    from the checkpoint, as the sweeps do); any other error, or one past ``max_retries``, fails it."""
    retry = retry or StepRetry()
    token = uuid.uuid4().hex
    lease = settings.SYNC_LEASE_SECONDS
    if not sync_run_lease_take(run=run, token=token, seconds=lease):
        log.info("sync run %s is finished or leased by another execution; left alone", run.pk)
        return run
    current = Step(run=run, token=token, deadline=float("inf"))
    heartbeat = _Heartbeat(run, token, current.lost)
    heartbeat.start()
    try:
        _steps(step, current, retry)
    except LeaseLost:
        return run
    except Exception as exc:
        heartbeat.stop()
        _record(on_error, run, exc)
        run.refresh_from_db()
        if retry.transient(exc) and run.attempts < retry.max_retries:
            sync_run_retrying(run=run, error=_error_text(exc), token=token, seconds=0)
        else:
            sync_run_finish(run=run, error=_error_text(exc), token=token)
        raise
    finally:
        heartbeat.stop()
    sync_run_finish(run=run, token=token)
    return run


def sync_run_redrive(*, kinds: Iterable[str], task: Any) -> list[int]:
    """Re-enqueue unfinished runs of ``kinds`` that nobody executes (their lease expired: a killed
    worker, a lost message); each resumes from its checkpoint. For the apps' periodic sweeps."""
    resumed = []
    for run in SyncRun.objects.filter(kind__in=list(kinds), status__in=UNFINISHED):
        if sync_run_is_stale(run=run):
            task.apply_async((run.pk, ""))
            resumed.append(run.pk)
    return resumed


def sync_step_task(
    *,
    name: str,
    kinds: str | Iterable[str],
    retry: StepRetry,
    on_error: ErrorHook | None = None,
    queue: str = "sync",
) -> Callable[[StepFn], Any]:
    """The Celery task of a sync: ``task.delay(run_id)`` starts (or resumes) the run in steps."""
    kinds = [kinds] if isinstance(kinds, str) else list(kinds)

    def decorate(step: StepFn) -> Any:
        @shared_task(
            name=name,
            bind=True,
            queue=queue,
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,  # the run is the result; a long sync is hundreds of messages
            soft_time_limit=settings.SYNC_STEP_SOFT_TIME_LIMIT,
            time_limit=settings.SYNC_STEP_TIME_LIMIT,
        )
        def execute(self: Any, run_id: int, ticket: str = "", recheck: int = 0) -> dict[str, Any]:
            return sync_run_drive(
                task=self,
                run_id=run_id,
                ticket=ticket,
                kinds=kinds,
                step=step,
                retry=retry,
                on_error=on_error,
                recheck=recheck,
            )

        execute.step = step  # type: ignore[attr-defined]
        return execute

    return decorate
