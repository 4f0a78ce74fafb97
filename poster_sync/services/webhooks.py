"""Poster webhooks: verify, store once, process in a task (SPEC POS-4, REL-2; API_CONTRACTS "Poster POS").

``verify == md5(";".join([account, object, object_id, action, data (only if present, as the raw
string received), time, application_secret]))``. An authentic delivery is stored under a unique
``delivery_key`` (account + verify, which covers every field and the time), so Poster's
redeliveries and replays hit the constraint and are processed once; processing is enqueued after
the commit. A forged delivery is logged with ``signature_valid=False`` and changes nothing else.

Two changes of one object within the same second have identical bodies (``time`` is in seconds and
``verify`` covers nothing else that differs), so the second one looks like a redelivery of the
first. Its change must not be lost: every authentic delivery marks its object in its lane before
the row is stored, a duplicate too, and a reader is queued when none is on its way for that
account's entity (``object_refresh`` for a duplicate, which has no row of its own). So a duplicate
costs at most one more read, and none while a reader of that entity is queued or reading.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.inbox import Handled, Inbox, inbox_claim, inbox_process, inbox_register, inbox_sweep
from core.logging import untrusted

from ..clients.poster import PosterTokenError
from ..models import PosterAccount, WebhookLog, WebhookStatus
from . import alerts
from .accounts import account_mark_error
from .objects import WEBHOOK_OBJECTS, object_mark, object_sync

log = logging.getLogger("poster_sync.webhooks")


def _handle(entry: WebhookLog, *, marked: bool = False) -> Handled:
    """Sync the delivery's object; the row is claimed (processing) and core.inbox records the outcome."""
    account = entry.account
    if account is None or not account.is_active:
        return Handled(WebhookStatus.IGNORED, "account gone or inactive")
    entity = WEBHOOK_OBJECTS.get(entry.object, "")
    outcome = object_sync(
        account=account,
        object=entry.object,
        object_id=entry.object_id,
        action=entry.action,
        marked=marked,
        on_released=lambda: webhooks_cover(account=account, entity=entity, by=entry.pk),
    )
    if entity:
        alerts.status_object_succeeded(account=account, entity=entity)
    return Handled(WebhookStatus.PROCESSED, outcome)


def _failed(entry: WebhookLog, exc: Exception, retrying: bool) -> None:
    """Every failed attempt counts toward the entity's staff alert; a token error asks to reconnect."""
    account = entry.account
    if account is None:
        return
    entity = WEBHOOK_OBJECTS.get(entry.object, "")
    if entity:
        alerts.status_failed(account=account, entity=entity, error=f"{type(exc).__name__}: {exc}", full_sync=False)
    if isinstance(exc, PosterTokenError):
        account_mark_error(account=account, error=f"Reconnect the account: {exc}", needs_reconnect=True)


INBOX = inbox_register(
    Inbox(
        name="poster_sync.webhooks",
        model=WebhookLog,
        handler=_handle,
        max_attempts=lambda: int(settings.POSTER_WEBHOOK_MAX_ATTEMPTS),
        backoff_base_seconds=5,
        backoff_max_seconds=300,
        on_failure=_failed,
    )
)
WEBHOOK_STATUS = INBOX.state


@dataclass(frozen=True)
class Delivery:
    """The signed fields of one delivery, every one as the string it was received as."""

    account: str
    object: str
    object_id: str
    action: str
    time: str
    verify: str
    data: str | None = None  # only when the body carried ``data``
    account_number: str = ""
    # Other textual forms of ``data`` to try when it arrived as JSON rather than a string.
    data_alternatives: tuple[str, ...] = field(default=(), repr=False)


def signature(*, delivery: Delivery, secret: str, data: str | None) -> str:
    parts = [
        delivery.account,
        delivery.object,
        delivery.object_id,
        delivery.action,
        *([data] if data is not None else []),
        delivery.time,
        secret,
    ]
    return hashlib.md5(";".join(parts).encode()).hexdigest()  # noqa: S324 - Poster's scheme, not ours


def signature_valid(*, delivery: Delivery, secret: str) -> bool:
    if not secret:
        return False  # no secret configured: nothing can be verified
    candidates: list[str | None] = [delivery.data, *delivery.data_alternatives]
    given = delivery.verify.strip().lower()
    return any(hmac.compare_digest(signature(delivery=delivery, secret=secret, data=d), given) for d in candidates)


@dataclass(frozen=True)
class Received:
    outcome: str  # "accepted" | "duplicate" | "ignored" | "forged"
    log_id: int | None


def webhook_receive(*, delivery: Delivery, payload: dict[str, Any], remote_addr: str | None) -> Received:
    common = {
        "account_name": delivery.account[:100],
        "object": delivery.object[:64],
        "object_id": delivery.object_id[:64],
        "action": delivery.action[:32],
        "payload": payload,
        "remote_addr": remote_addr or None,
    }
    if not signature_valid(delivery=delivery, secret=settings.POSTER_APP_SECRET):
        entry = WebhookLog.objects.create(
            signature_valid=False, status=WebhookStatus.REJECTED, last_error="signature does not match", **common
        )
        log.warning("forged or unverifiable Poster webhook from %s (log %s)", untrusted(remote_addr), entry.pk)
        return Received("forged", entry.pk)
    account = PosterAccount.objects.filter(account=delivery.account, is_active=True).first()
    synced = delivery.object in WEBHOOK_OBJECTS
    status = WebhookStatus.RECEIVED if account is not None and synced else WebhookStatus.IGNORED
    key = hashlib.sha256(f"{delivery.account}:{delivery.verify.lower()}".encode()).hexdigest()
    send_reader = False
    if status == WebhookStatus.RECEIVED and account is not None:
        # Marked before anything is queued, and a task queued only when no reader of this account's
        # entity is on its way: a burst is one task and one read, and another account's deliveries
        # do not queue behind a thousand of this one's (PERF-6). The reader marks the others' logs.
        send_reader = object_mark(
            account=account, object=delivery.object, object_id=delivery.object_id, action=delivery.action
        )
    try:
        with transaction.atomic():
            entry = WebhookLog.objects.create(
                account=account,
                signature_valid=True,
                delivery_key=key,
                status=status,
                last_error=""
                if status == WebhookStatus.RECEIVED
                else ("unknown or inactive account" if account is None else f"{delivery.object} is not synced"),
                **common,
            )
            if send_reader:
                from ..tasks import webhook_process as task

                transaction.on_commit(lambda: task.delay(entry.pk, True))
    except IntegrityError:
        # A redelivery or replay of a stored delivery: stored and processed once. It may also be a
        # second change within the same second (the same body): its mark above stands, and when no
        # reader is on its way one is sent (without a log entry of its own).
        if send_reader and account is not None:
            from ..tasks import object_refresh

            account_id, fields = account.pk, (delivery.object, delivery.object_id, delivery.action)
            transaction.on_commit(lambda: object_refresh.delay(account_id, *fields))
        return Received("duplicate", None)
    return Received("accepted" if status == WebhookStatus.RECEIVED else "ignored", entry.pk)


def webhook_process(*, log_id: int, final: bool = False, marked: bool = False) -> str:
    """Sync the delivery's object (``marked``: the webhook's request noted the change already).

    A transient failure leaves the log ``retry`` (its next attempt pushed back) and is re-raised for
    the task's own retry; the last attempt, or a permanent error, leaves it ``failed``; either counts
    toward the staff alert. A crash mid-way leaves ``processing``: the sweep retries it."""
    if not inbox_claim(inbox=INBOX, pk=log_id):
        if marked:  # covered by another delivery's read, but sent as its lane's reader: read what is left
            return f"not due; {lane_read(log_id=log_id)}"
        return "not due"  # processed already, or another worker has it
    left = inbox_process(inbox=INBOX, pk=log_id, claimed=True, final=final, reraise=True, context={"marked": marked})
    if left == WebhookStatus.PROCESSED:
        return str(WebhookLog.objects.values_list("last_error", flat=True).get(pk=log_id))
    return str(left)


def lane_read(*, log_id: int) -> str:
    """Read what is pending in the lane of a delivery whose own change was covered already."""
    entry = WebhookLog.objects.select_related("account").filter(pk=log_id).first()
    if entry is None or entry.account is None or not entry.account.is_active:
        return "nothing to read"
    account, entity = entry.account, WEBHOOK_OBJECTS.get(entry.object, "")
    return object_sync(
        account=account,
        object=entry.object,
        object_id=entry.object_id,
        action=entry.action,
        marked=True,
        on_released=lambda: webhooks_cover(account=account, entity=entity, by=log_id),
    )


def webhooks_cover(*, account: PosterAccount, entity: str, by: int) -> int:
    """Deliveries of the account's entity received before now are read and stored (their marks came
    before their rows, and the lane just let go with nothing pending): processed, without a task."""
    now = timezone.now()
    objects = [name for name, target in WEBHOOK_OBJECTS.items() if target == entity]
    sources = WEBHOOK_STATUS.sources(WebhookStatus.PROCESSED, from_=WebhookStatus.RECEIVED)
    return int(
        WebhookLog.objects.filter(account=account, object__in=objects, status__in=sources, received_at__lte=now)
        .exclude(pk=by)
        .update(
            status=WebhookStatus.PROCESSED,
            processed_at=now,
            updated_at=now,
            last_error=f"coalesced: covered by the read of delivery {by}",
        )
    )


def object_refresh(*, account_id: int, object: str, object_id: str, action: str) -> str:
    """Read what a same-second twin of a stored delivery marked (it has no log entry of its own)."""
    account = PosterAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return "ignored"
    entity = WEBHOOK_OBJECTS.get(object, "")
    return object_sync(
        account=account,
        object=object,
        object_id=object_id,
        action=action,
        marked=True,
        on_released=lambda: webhooks_cover(account=account, entity=entity, by=0),
    )


def webhooks_sweep() -> int:
    """Deliveries a lost message or a dead worker left behind, and retries that are due, processed
    by the one inbox sweep (core.inbox)."""
    return inbox_sweep(inboxes=[INBOX]).get(INBOX.name, 0)


def webhook_retry(*, log_id: int) -> bool:
    """Staff's "retry" from the admin: a failed delivery is processed again."""
    entry = WebhookLog.objects.filter(pk=log_id, status=WebhookStatus.FAILED).first()
    if entry is None:
        return False
    from ..tasks import webhook_process as task

    transaction.on_commit(lambda: task.delay(log_id))
    return True
