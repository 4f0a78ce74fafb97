"""Entity syncs: full list per entity, smart (only stale entities) or forced, manual ones rate-limited
per account and entity; every sync is a ``SyncRun`` (kind ``poster.<entity>``) (SPEC POS-2, POS-3).

A full sync upserts every item on (account, poster_id) and soft-deletes rows Poster no longer lists
or marks ``delete = "1"``; running it twice changes nothing, so a retried task is harmless.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from core.logging import untrusted
from core.models import SyncRun
from core.ratelimit import Rate, RateLimiter
from core.selectors import sync_run_account
from core.services import UNFINISHED, sync_run_create, sync_run_is_stale
from core.steps import Step, StepRetry, sync_run_execute

from ..clients.poster import PosterClient, PosterItem, PosterTokenError
from ..models import (
    Category,
    Entity,
    Ingredient,
    IngredientCategory,
    PosterAccount,
    PosterObject,
    Storage,
    Supplier,
    SyncStatus,
)
from . import alerts
from .accounts import account_client, account_mark_error

log = logging.getLogger(__name__)

KIND_PREFIX = "poster."


class Mode:
    SMART = "smart"  # only entities whose last success is older than POSTER_STALE_AFTER_HOURS
    FORCE = "force"  # every requested entity
    SCHEDULED = "scheduled"  # the daily safety net (every entity)


@dataclass(frozen=True)
class EntitySpec:
    model: type[PosterObject]
    fetch: Callable[[PosterClient], list[PosterItem]]
    fields: tuple[str, ...]


ENTITIES: dict[str, EntitySpec] = {
    Entity.SUPPLIERS: EntitySpec(Supplier, PosterClient.suppliers, ("name", "phone", "address", "comment", "tin")),
    Entity.INGREDIENTS: EntitySpec(
        Ingredient,
        PosterClient.ingredients,
        ("name", "category_poster_id", "unit", "left", "ingredient_type", "hidden"),
    ),
    Entity.STORAGES: EntitySpec(Storage, PosterClient.storages, ("name", "address")),
    Entity.CATEGORIES: EntitySpec(
        Category, PosterClient.categories, ("name", "parent_poster_id", "hidden", "level", "sort_order")
    ),
    Entity.INGREDIENT_CATEGORIES: EntitySpec(IngredientCategory, PosterClient.ingredient_categories, ("name",)),
}
ENTITY_NAMES: list[str] = [str(e) for e in Entity]


class SyncRateLimited(Exception):
    def __init__(self, entity: str, retry_after: float) -> None:
        super().__init__(
            gettext("A manual sync of %(entity)s was started moments ago; try again in %(seconds)s s.")
            % {"entity": entity, "seconds": math.ceil(retry_after)}
        )
        self.entity = entity
        self.retry_after = max(1, math.ceil(retry_after))


# --- writing rows ---------------------------------------------------------------------------------------


def items_upsert(*, account: PosterAccount, entity: str, items: Iterable[PosterItem]) -> list[int]:
    """Insert or update items on (account, poster_id); ``delete = "1"`` items are soft-deleted."""
    spec = ENTITIES[entity]
    now = timezone.now()
    rows = [
        spec.model(
            account=account,
            poster_id=item.poster_id,
            raw=item.raw,
            synced_at=now,
            removed_at=now if item.deleted else None,
            **item.fields,
        )
        for item in items
    ]
    if rows:
        spec.model.objects.bulk_create(  # type: ignore[attr-defined]
            rows,
            batch_size=1000,
            update_conflicts=True,
            unique_fields=["account", "poster_id"],
            update_fields=[*spec.fields, "raw", "synced_at", "removed_at"],
        )
    return [row.poster_id for row in rows]


def items_remove(
    *, account: PosterAccount, entity: str, poster_ids: Iterable[int] | None = None, keep: Iterable[int] | None = None
) -> int:
    """Soft-delete the given ids, or every live row not in ``keep`` (a full list is authoritative)."""
    rows = ENTITIES[entity].model.objects.filter(account=account, removed_at__isnull=True)  # type: ignore[attr-defined]
    if poster_ids is not None:
        rows = rows.filter(poster_id__in=list(poster_ids))
    if keep is not None:
        rows = rows.exclude(poster_id__in=list(keep))
    return int(rows.update(removed_at=timezone.now()))


# --- full entity sync -------------------------------------------------------------------------------------


# The step executor is the retry layer of Poster's calls (error 700 past the client's own waits, a
# timeout, a 5xx): five retries, 10 s doubling (capped under the visibility timeout by core.steps).
RETRY = StepRetry(max_retries=5, backoff=10, backoff_max=600)


def entity_step(step: Step, *, client: PosterClient | None = None) -> bool:
    """The whole run in one step: fetch the entity's full list (one request, well under the step's
    limits), upsert it, soft-delete what vanished. Running it again changes nothing."""
    run = step.run
    entity = run.kind.removeprefix(KIND_PREFIX)
    account = step.account(PosterAccount)
    from .objects import lane_exclusive  # objects builds on this module

    # Never beside a webhook's read of the same entity: the older of two answers could land last.
    with lane_exclusive(account=account, entity=entity, client=client):
        items = ENTITIES[entity].fetch(client or account_client(account=account))
        with transaction.atomic():
            ids = items_upsert(account=account, entity=entity, items=items)
            removed = items_remove(account=account, entity=entity, keep=ids)
    step.checkpoint(done=len(items), total=len(items), counters={"received": len(items), "removed": removed})
    alerts.status_sync_succeeded(account=account, entity=entity, items=len(items))
    if account.last_error or account.needs_reconnect:
        account_mark_error(account=account, error="")
    log.info("poster %s %s: %d items, %d removed", untrusted(str(account)), entity, len(items), removed)
    return True


def entity_error(run: SyncRun, exc: BaseException) -> None:
    """Every failed attempt counts on the entity's status (alerts); a token error asks to reconnect."""
    account = sync_run_account(run=run, model=PosterAccount)
    if account is None:
        return
    if isinstance(exc, PosterTokenError):
        account_mark_error(account=account, error=f"Reconnect the account: {exc}", needs_reconnect=True)
    alerts.status_failed(
        account=account, entity=run.kind.removeprefix(KIND_PREFIX), error=f"{type(exc).__name__}: {exc}"
    )


def entity_sync(*, run: SyncRun, client: PosterClient | None = None) -> SyncRun:
    """Execute a queued run in this process: a transient failure (error 700 past the client's own
    retries, a timeout, 5xx) leaves it RETRYING and is raised; a permanent one (a token error) fails
    it. The worker runs the same step with retries (``tasks.entity_sync_run``)."""
    return sync_run_execute(
        run=run, step=lambda step: entity_step(step, client=client), retry=RETRY, on_error=entity_error
    )


def _manual_limiter(account: PosterAccount, entity: str) -> RateLimiter:
    return RateLimiter(f"poster:manual:{account.pk}:{entity}", Rate(1, settings.POSTER_MANUAL_SYNC_INTERVAL_SECONDS))


def entity_is_stale(status: SyncStatus | None, *, now: Any = None) -> bool:
    if status is None or status.last_success_at is None:
        return True
    now = now or timezone.now()
    return now - status.last_success_at >= timedelta(hours=settings.POSTER_STALE_AFTER_HOURS)


def sync_request(
    *,
    account: PosterAccount,
    entities: Iterable[str] | None = None,
    force: bool = False,
    manual: bool = True,
    mode: str | None = None,
) -> dict[str, SyncRun | None]:
    """Queue a run per entity (smart: only stale ones); ``None`` for an entity that is fresh.

    Manual requests take one slot per account and entity from a shared limiter; when any requested
    entity has none left, nothing is queued and ``SyncRateLimited`` says when to come back.
    """
    wanted = list(dict.fromkeys(entities or ENTITY_NAMES))
    unknown = [e for e in wanted if e not in ENTITIES]
    if unknown:
        raise ValueError(f"unknown entities: {', '.join(map(str, unknown))}")
    statuses = {s.entity: s for s in SyncStatus.objects.filter(account=account, entity__in=wanted)}
    due = [e for e in wanted if force or entity_is_stale(statuses.get(e))]
    if manual:
        limiters = {e: _manual_limiter(account, e) for e in due}
        for entity, limiter in limiters.items():
            wait = limiter.retry_after()
            if wait > 0:
                raise SyncRateLimited(entity, wait)
        for entity, limiter in limiters.items():
            if not limiter.try_acquire():  # lost a race with a concurrent request
                raise SyncRateLimited(entity, limiter.retry_after() or 1)
    mode = mode or (Mode.FORCE if force else Mode.SMART)
    runs: dict[str, SyncRun | None] = dict.fromkeys(wanted)
    for entity in due:
        runs[entity] = run_enqueue(account=account, entity=entity, mode=mode)
    return runs


def run_enqueue(*, account: PosterAccount, entity: str, mode: str) -> SyncRun:
    from ..tasks import entity_sync_run

    run = sync_run_create(merchant=account.merchant, kind=f"{KIND_PREFIX}{entity}", account=account, mode=mode)
    transaction.on_commit(lambda: entity_sync_run.delay(run.pk))
    return run


def runs_stuck() -> list[int]:
    """Runs a lost message or a dead worker left behind: unfinished and unleased (queued for over ten
    minutes, or their lease expired). Running them again resumes them (an idempotent upsert)."""
    runs = SyncRun.objects.filter(kind__startswith=KIND_PREFIX, status__in=UNFINISHED).order_by("pk")
    return [run.pk for run in runs[:400] if sync_run_is_stale(run=run)]


def sync_scheduled_all() -> list[int]:
    """The daily safety net: every entity of every active account (catches missed webhooks, suppliers)."""
    run_ids: list[int] = []
    for account in PosterAccount.objects.filter(is_active=True).select_related("merchant"):
        runs = sync_request(account=account, force=True, manual=False, mode=Mode.SCHEDULED)
        run_ids.extend(run.pk for run in runs.values() if run is not None)
    return run_ids


# --- status (GET /api/v1/poster/sync) ----------------------------------------------------------------------


def sync_status(*, account: PosterAccount) -> dict[str, dict[str, Any]]:
    now = timezone.now()
    statuses = {s.entity: s for s in SyncStatus.objects.filter(account=account)}
    out: dict[str, dict[str, Any]] = {}
    for entity in ENTITY_NAMES:
        status = statuses.get(entity)
        last = status.last_success_at if status else None
        out[entity] = {
            "lastSyncAt": last.isoformat().replace("+00:00", "Z") if last else None,
            "needsSync": entity_is_stale(status, now=now),
            "age": int((now - last).total_seconds() // 60) if last else None,
        }
    return out
