"""Celery tasks of payments: take ids, call one service, safe to run twice (CONVENTIONS.md).

A task message is at least once only while it lives (see ``services/settlement.py``): every state
a lost message leaves behind is re-driven by a periodic sweep from the database (``periodic.py``).

Each task names its queue (SPEC PLAT-6, config/settings/celery.py): ``brew`` for the latency-critical
path from a paid webhook to the device, ``payments`` for money (capture, cancel, refund) and its sweeps,
so neither ever waits behind a multi-hour sync on another queue.
"""

from __future__ import annotations

from typing import Any

from celery import shared_task
from django.db import InterfaceError, OperationalError

from core.exceptions import TransientError
from core.http import task_retry_options

from .services import brew, orders, payments, settlement

RETRY = {
    **task_retry_options(backoff=2, backoff_max=300, max_retries=8),
    # Nobody waits for these results; storing them would also make every .delay() subscribe to a
    # Redis result channel (measurable on the webhook path, PERF-4).
    "ignore_result": True,
}

# How long a stored payment notification may wait (the buyer stands at the machine): processing is
# idempotent, so provider trouble and database trouble alike (a deadlock victim, a connection blip,
# "too many clients") retry at once with short backoff — full jitter under 1, 2, 4, 8, 8, 8 s, at
# most 31 s in all — and a message lost altogether (a killed worker, a broker flush) is applied by
# ``deliveries_retry`` (the inbox sweep, every 30 s, for deliveries older than 30 s; a delivery
# whose task's retries ran out is left ``retry`` and applied by it with backoff). Before, a database error
# failed the task for good and a transient one could wait up to 300 s between attempts.
DELIVERY_RETRY = {
    "autoretry_for": (TransientError, OperationalError, InterfaceError),
    "retry_backoff": 1,
    "retry_backoff_max": 8,
    "retry_jitter": True,
    "max_retries": 6,
    "ignore_result": True,
}
# The bound a test may wait for with a worker running and no beat: the retries' total backoff.
DELIVERY_RETRY_SECONDS = sum(min(8, 2**attempt) for attempt in range(6))
# With beat: a delivery whose retries ran out, or whose message was lost, is applied again by the
# sweep within its age threshold plus its period.
DELIVERY_SWEEP_SECONDS = 30 + 30


@shared_task(name="payments.tasks.brew_process_delivery", queue="brew", **DELIVERY_RETRY)
def brew_process_delivery(delivery_id: int) -> str:
    """Apply a stored, authenticated webhook delivery (on the brew queue: it starts the brew)."""
    return payments.webhook_process(delivery_id=delivery_id)


@shared_task(
    name="payments.tasks.brew_send",
    queue="brew",
    **task_retry_options(backoff=1, backoff_max=10, max_retries=5),
    ignore_result=True,
)
def brew_send(command_id: int) -> str:
    return brew.brew_send(command_id=command_id)


@shared_task(name="payments.tasks.payment_capture", queue="payments", **RETRY)
def payment_capture(payment_id: int) -> str:
    return settlement.capture_execute(payment_id=payment_id)


@shared_task(bind=True, name="payments.tasks.refund_execute", queue="payments", **RETRY)
def refund_execute(self: Any, refund_id: int) -> str:
    # On the last attempt a transient failure is recorded as failed (visible in the admin) instead of lost.
    return settlement.refund_execute(refund_id=refund_id, final=self.request.retries >= self.max_retries)


@shared_task(name="payments.tasks.settlements_sweep", queue="payments")
def settlements_sweep() -> dict[str, int]:
    """Re-drive captures, cancels and refunds a crash or a lost message left unconfirmed (REL-1)."""
    return settlement.settlements_sweep()


@shared_task(name="payments.tasks.orders_expire", queue="payments")
def orders_expire() -> int:
    return orders.orders_expire()


@shared_task(name="payments.tasks.brews_fail_late", queue="payments")
def brews_fail_late() -> int:
    failed, resend = brew.brews_fail_late()
    for command_id in [*resend, *brew.brew_stuck_queued()]:
        brew_send.delay(command_id)
    return failed


@shared_task(name="payments.tasks.deliveries_retry", queue="payments")
def deliveries_retry(older_than_seconds: int = 30) -> int:
    """The one inbox sweep (core.inbox) over the deliveries: lost messages and due retries, applied here."""
    return payments.deliveries_sweep(older_than_seconds=older_than_seconds)


@shared_task(name="payments.tasks.payments_reconcile", queue="payments")
def payments_reconcile() -> int:
    return payments.payments_reconcile()
