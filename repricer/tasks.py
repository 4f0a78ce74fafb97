"""Celery tasks of the repricer, all on the ``repricer`` queue: take ids, call one service."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .services import loop, operations, proxies


@shared_task(name="repricer.tasks.reprice_schedule", queue="repricer", ignore_result=True)
def reprice_schedule() -> int:
    """Beat, every few seconds: claim due products and fan them out in batches."""
    return operations.reprice_due()


@shared_task(
    name="repricer.tasks.reprice_batch",
    queue="repricer",
    ignore_result=True,
    # Like a sync step: no new product after SYNC_STEP_SECONDS, stopped softly at half the visibility
    # timeout and killed at three quarters, so the message is never handed out again while it runs.
    soft_time_limit=settings.SYNC_STEP_SOFT_TIME_LIMIT,
    time_limit=settings.SYNC_STEP_TIME_LIMIT,
)
def reprice_batch(rule_ids: list[int], dry_run: bool = False, force: bool = False) -> dict[str, int]:
    """Safe to run twice: each product's lease lets only one worker process it at a time."""
    return dict(loop.rules_process(rule_ids=rule_ids, dry_run=dry_run, force=force))


@shared_task(name="repricer.tasks.proxies_reset_counters", queue="repricer", ignore_result=True)
def proxies_reset_counters() -> int:
    return proxies.proxies_reset_counters()


@shared_task(
    name="repricer.tasks.demo_rules",
    bind=True,
    queue="default",
    ignore_result=True,
    max_retries=60,
    default_retry_delay=10,
)
def demo_rules(self: object, store_id: int) -> int:
    """`make run` only: put the demo rules on the sandbox store once its first products sync is in."""
    from .demo import demo_rules_create

    created = demo_rules_create(store_id=store_id)
    if not created:
        raise self.retry()  # type: ignore[attr-defined]
    return created
