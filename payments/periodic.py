"""Periodic jobs of payments (installed by `manage.py install_periodic_tasks`)."""

from __future__ import annotations

from core.scheduling import PeriodicJob, register

# Every 30 s: unpaid orders past expires_at become not_paid (PAY-7).
register(
    PeriodicJob(
        name="payments.orders_expire",
        task="payments.tasks.orders_expire",
        queue="payments",
        every_seconds=30,
        expires_seconds=25,
        description="Expire unpaid orders",
    )
)
# Every 10 s: brew commands not acknowledged by their deadline fail → money back (PAY-6).
register(
    PeriodicJob(
        name="payments.brews_fail_late",
        task="payments.tasks.brews_fail_late",
        queue="payments",
        every_seconds=10,
        expires_seconds=9,
        description="Fail brew commands whose device did not acknowledge",
    )
)
# Every 2 minutes: re-read payments still pending at the provider (missed webhooks).
register(
    PeriodicJob(
        name="payments.payments_reconcile",
        task="payments.tasks.payments_reconcile",
        queue="payments",
        every_seconds=120,
        expires_seconds=100,
        description="Reconcile pending payments",
    )
)
# Every 30 s: the one inbox sweep (core.inbox) applies stored webhook deliveries never processed
# (their message was lost) and those whose retry is due.
register(
    PeriodicJob(
        name="payments.deliveries_retry",
        task="payments.tasks.deliveries_retry",
        queue="payments",
        every_seconds=30,
        expires_seconds=25,
        description="Apply webhook deliveries left unprocessed or due for a retry",
    )
)
# Every 30 s: captures, cancels and refunds not confirmed after PAYMENTS_SETTLEMENT_GRACE_SECONDS
# (a worker crash, a lost message) are run again with the same idempotence key (REL-1, PAY-8).
register(
    PeriodicJob(
        name="payments.settlements_sweep",
        task="payments.tasks.settlements_sweep",
        queue="payments",
        every_seconds=30,
        expires_seconds=25,
        description="Re-drive unconfirmed captures, cancels and refunds",
    )
)
