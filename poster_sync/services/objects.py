"""Single objects changed at Poster (webhooks): read in order, a burst coalesced (SPEC POS-4, PERF-6).

A webhook only says "this object changed"; the value is read from Poster. Two reads of one object
in flight at once can answer out of order, and the earlier answer stored last would leave an old
value behind. So the reads of one account's entity never overlap: the webhook's request marks its
object in the entity's lane (``core.singleflight``) before queuing its task; the task, when no read
of that lane is running, becomes its holder and reads everything marked; otherwise it leaves at
once and the running holder reads again after its current read, which covers every change marked
before that read started. A task whose object a read already covered reads nothing. Poster sends no version to
compare (API_CONTRACTS "Poster POS"), so order is the only guarantee there is.

What the holder reads, per snapshot of what is pending: removals are applied without a read (the
webhook is Poster saying so; in order with the reads around it); one changed ingredient is one
``menu.getIngredient``; several changed objects, an object of an entity with no single-item
method, or a ``stock``/``supply`` change (any ingredient's leftovers) are one list call — a burst
costs one paced call, not one per object.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import transaction

from core.exceptions import TransientError
from core.singleflight import SingleFlight, Snapshot

from ..clients.poster import PosterClient, PosterItem
from ..models import Entity, PosterAccount
from .accounts import account_client
from .sync import ENTITIES, items_remove, items_upsert

log = logging.getLogger(__name__)

# Webhook object → the entity it changes. ``stock`` and ``supply`` move ingredients' leftovers.
WEBHOOK_OBJECTS: dict[str, str] = {
    "ingredient": Entity.INGREDIENTS,
    "ingredients_category": Entity.INGREDIENT_CATEGORIES,
    "category": Entity.CATEGORIES,
    "storage": Entity.STORAGES,
    "stock": Entity.INGREDIENTS,
    "supply": Entity.INGREDIENTS,
}
ALL = "*"  # the whole entity (stock, supply, an id that is not a Poster id)
REMOVED = "removed"
READ = "read"


def object_lane(*, account: PosterAccount, entity: str) -> SingleFlight:
    return SingleFlight(f"poster:{account.pk}:{entity}")


def _member(object: str, object_id: str) -> str:
    poster_id = int(object_id) if object_id.isdigit() and len(object_id) <= 18 else None  # fits a bigint
    return ALL if object in ("stock", "supply") or poster_id is None else str(poster_id)


def object_mark(*, account: PosterAccount, object: str, object_id: str, action: str) -> bool:
    """Note a change where it is noticed (the webhook's request), before any task is queued. True:
    no reader is on its way for this account's entity, so the caller queues one, which reads with
    ``object_sync(..., marked=True)``; False: one is queued or reading already and covers this."""
    entity = WEBHOOK_OBJECTS.get(object)
    if entity is None:
        return False
    member = _member(object, object_id)
    note = REMOVED if action == REMOVED and member != ALL else READ
    return object_lane(account=account, entity=entity).mark_queued(member, note)


def object_sync(
    *,
    account: PosterAccount,
    object: str,
    object_id: str,
    action: str,
    client: PosterClient | None = None,
    marked: bool = False,
    on_released: Callable[[], object] | None = None,
) -> str:
    """Bring one changed object in line with Poster; returns what was done (or that it was coalesced).

    ``marked``: ``object_mark`` noted the change already, so only the lock is tried; a read that
    started after the mark (by this task or another) covers it. Otherwise the change is marked here.
    ``on_released``: called when this holder lets the lane go with nothing pending — every change
    marked before that instant has been read and stored."""
    entity = WEBHOOK_OBJECTS.get(object)
    if entity is None:
        return f"ignored: {object} is not synced"
    member = _member(object, object_id)
    lane = object_lane(account=account, entity=entity)
    note = REMOVED if action == REMOVED and member != ALL else READ
    if not (lane.acquire() if marked else lane.mark(member, note)):
        return f"coalesced: {entity} {member} is read by this account's sync already running"
    outcomes = lane_hold(lane=lane, account=account, entity=entity, client=client, on_released=on_released)
    return outcomes.get(member) or f"coalesced: {entity} {member} was covered by a read that started after it"


def lane_hold(
    *,
    lane: SingleFlight,
    account: PosterAccount,
    entity: str,
    client: PosterClient | None = None,
    on_released: Callable[[], object] | None = None,
) -> dict[str, str]:
    """As the lane's holder: read what is pending until nothing is, then let go; member → outcome."""
    outcomes: dict[str, str] = {}
    try:
        while True:
            snapshot = lane.snapshot()
            if snapshot is None:  # the lock expired under us; its new holder reads after our change
                break
            if snapshot:
                client = client or account_client(account=account)
                outcomes.update(objects_read(account=account, entity=entity, snapshot=snapshot, client=client))
            state = lane.done(snapshot)
            if state == 1 and on_released is not None:
                on_released()
            if state != 0:
                break
    except BaseException:
        lane.release()  # what is pending stays pending: the retry, or the next webhook, reads it
        raise
    return outcomes


class LaneBusy(TransientError):
    """A single-object read of the entity kept the lane longer than a full sync waits."""


@contextmanager
def lane_exclusive(
    *, account: PosterAccount, entity: str, client: PosterClient | None = None, wait: float = 30.0
) -> Iterator[None]:
    """Hold the entity's lane around a full sync, so a webhook's read and a full list never overlap
    (a list read before a change and stored after its object's read would bring the old value back).
    What was marked before the list was read is covered by it; what was marked meanwhile is read after."""
    lane = object_lane(account=account, entity=entity)
    deadline = time.monotonic() + wait
    while not lane.acquire():
        if time.monotonic() > deadline:
            raise LaneBusy(f"the {entity} of Poster account {account.pk} are being read; try again", service="poster")
        time.sleep(0.05)
    try:
        covered = lane.snapshot() or Snapshot(generations={}, notes={})
        yield
    except BaseException:
        lane.release()
        raise
    if lane.done(covered) == 0:
        lane_hold(lane=lane, account=account, entity=entity, client=client)


def objects_read(*, account: PosterAccount, entity: str, snapshot: Snapshot, client: PosterClient) -> dict[str, str]:
    """Read and store what one snapshot of a lane names; member → what was done."""
    notes = snapshot.notes
    full = ALL in snapshot.generations
    removed = sorted(int(m) for m in snapshot.generations if m != ALL and notes.get(m) == REMOVED)
    wanted = sorted(int(m) for m in snapshot.generations if m != ALL and notes.get(m) != REMOVED)
    out: dict[str, str] = {}
    if full or len(wanted) > 1 or (wanted and entity != Entity.INGREDIENTS):
        items = ENTITIES[entity].fetch(client)
        by_id = {item.poster_id: item for item in items}
        with transaction.atomic():
            if full:
                ids = items_upsert(account=account, entity=entity, items=items)
                items_remove(account=account, entity=entity, keep=ids)
                out[ALL] = f"{entity}: {len(items)} refreshed"
            else:
                items_upsert(account=account, entity=entity, items=[by_id[i] for i in wanted if i in by_id])
                items_remove(account=account, entity=entity, poster_ids=[i for i in wanted if i not in by_id])
        for poster_id in wanted:
            out[str(poster_id)] = _outcome(entity, poster_id, by_id.get(poster_id))
    elif wanted:
        poster_id = wanted[0]
        item = client.ingredient(poster_id)
        if item is None:
            items_remove(account=account, entity=entity, poster_ids=[poster_id])
        else:
            items_upsert(account=account, entity=entity, items=[item])
        out[str(poster_id)] = _outcome(entity, poster_id, item)
    if removed:
        items_remove(account=account, entity=entity, poster_ids=removed)
        out.update({str(i): f"{entity} {i} removed" for i in removed})
    if len(snapshot.generations) > 1:
        log.info("poster %s %s: %d pending objects read together", account.pk, entity, len(snapshot.generations))
    return out


def _outcome(entity: str, poster_id: int, item: PosterItem | None) -> str:
    if item is None:  # Poster no longer has it
        return f"{entity} {poster_id} gone at Poster: removed"
    return f"{entity} {poster_id} {'removed' if item.deleted else 'updated'}"
