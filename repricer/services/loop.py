"""The repricing loop on Celery (SPEC REP-4): claim due products, fan out, process with threads.

Beat runs ``reprice_schedule`` every few seconds. ``rules_claim_due`` takes due rules with
``SELECT … FOR UPDATE SKIP LOCKED`` and pushes their ``next_check_at`` forward by a lease in the
same transaction, so two schedulers (or two beats by mistake) never claim the same product; the
batches go to the ``repricer`` queue after the commit. Inside a worker, ``rules_process`` keeps up
to ``REPRICER_WORKER_CONCURRENCY`` products in flight on threads; each thread takes a few products
at a time (``CHUNK``: leased in one UPDATE, loaded in one SELECT, finished in one UPDATE) but never
so many that threads sit idle. Each product's own lease (``processing_until``) keeps a product from
being processed by two workers at once even if its batch is delivered twice. A crash leaves only
leases, which expire.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from ..models import RepricingRule
from .reprice import Result, Stores, products_reprice

log = logging.getLogger(__name__)

CHUNK = 25  # products a thread takes at once: fewer queries per product, still many threads busy


def rules_claim_due(*, limit: int | None = None) -> list[int]:
    now = timezone.now()
    limit = settings.REPRICER_CLAIM_LIMIT if limit is None else limit
    with transaction.atomic():
        ids = list(
            RepricingRule.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(is_active=True, next_check_at__lte=now, product__is_active=True, product__store__is_active=True)
            .exclude(product__store__repricing__is_paused=True)
            .exclude(product__store__repricing__rate_limited_until__gt=now)
            .order_by("-is_priority", "next_check_at")
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            RepricingRule.objects.filter(pk__in=ids).update(
                next_check_at=now + timedelta(seconds=settings.REPRICER_LEASE_SECONDS)
            )
    return ids


def batches(ids: list[int], size: int | None = None) -> list[list[int]]:
    size = max(1, settings.REPRICER_BATCH_SIZE if size is None else size)
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def rules_process(
    *,
    rule_ids: list[int],
    dry_run: bool = False,
    force: bool = False,
    concurrency: int | None = None,
    seconds: float | None = None,
) -> Counter[str]:
    """Reprice these products with up to ``concurrency`` in flight; return how each ended.

    No new product is started after ``seconds`` (default ``SYNC_STEP_SECONDS``), so a batch message
    never outlives the broker's visibility timeout (PLAT-14) however slow the paced calls become:
    the ones left (``left``) are handed back, due at once, for the next schedule tick to claim."""
    started = timezone.now()
    pending = deque(rule_ids)
    left: list[int] = []
    lock = threading.Lock()
    counts: Counter[str] = Counter()
    width = max(1, min(concurrency or settings.REPRICER_WORKER_CONCURRENCY, len(rule_ids)))
    chunk = max(1, min(CHUNK, len(rule_ids) // width))
    stores = Stores()
    deadline = time.monotonic() + (settings.SYNC_STEP_SECONDS if seconds is None else seconds)

    def take() -> list[int]:
        with lock:  # smaller chunks as the queue drains, so no thread is left with a long tail alone
            if time.monotonic() > deadline:
                left.extend(pending)
                pending.clear()
                return []
            size = min(chunk, max(1, len(pending) // width))
            return [pending.popleft() for _ in range(min(size, len(pending)))]

    def run() -> None:
        try:
            while ids := take():
                results = _guarded(ids, dry_run=dry_run, force=force, stores=stores)
                with lock:
                    counts.update(str(result) for result in results)
        finally:
            connection.close()  # each thread has its own connection; do not leave it open

    if width == 1:
        while ids := take():
            counts.update(str(result) for result in _guarded(ids, dry_run=dry_run, force=force, stores=stores))
    else:
        threads = [threading.Thread(target=run, name=f"repricer-{i}", daemon=True) for i in range(width)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    if left:
        _hand_back(left, since=started)
        counts["left"] += len(left)
    return counts


def _hand_back(rule_ids: list[int], *, since: datetime) -> None:
    """Products a batch had no time for: due again now (their claim pushed them a lease ahead), unless
    another worker checked them meanwhile (a second delivery of the batch)."""
    RepricingRule.objects.filter(pk__in=rule_ids).exclude(last_checked_at__gte=since).update(
        next_check_at=timezone.now()
    )


def _guarded(rule_ids: list[int], *, dry_run: bool, force: bool, stores: Stores) -> list[Result]:
    try:
        return products_reprice(rule_ids=rule_ids, dry_run=dry_run, force=force, stores=stores)
    except Exception:  # products_reprice records each product's failure; this is the last line of defence
        log.exception("repricer: unexpected error")
        return [Result.ERROR] * len(rule_ids)
