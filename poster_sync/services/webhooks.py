"""Poster webhooks: verify, store once, process in a task (SPEC POS-4, REL-2; API_CONTRACTS "Poster POS").

``verify == md5(";".join([account, object, object_id, action, data (only if present, as the raw
string received), time, application_secret]))``. An authentic delivery is stored under a unique
``delivery_key`` (account + verify, which covers every field and the time), so Poster's
redeliveries and replays hit the constraint and are processed once; processing is enqueued after
the commit. A forged delivery is logged with ``signature_valid=False`` and changes nothing else.

Two changes of one object within the same second have identical bodies (``time`` is in seconds and
``verify`` covers nothing else that differs), so the second one looks like a redelivery of the
first. Its change must not be lost: an authentic duplicate that arrives within
``DUPLICATE_REREAD_SECONDS`` of the stored one marks the object again (``object_refresh``), which
costs at most one more read (none while a read of that entity is running); a later one — Poster
redelivering after an answer it did not get, or a replay — changes nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import TransientError
from core.transitions import StateTable

from ..models import PosterAccount, WebhookLog, WebhookStatus
from . import alerts
from .objects import WEBHOOK_OBJECTS, object_mark, object_sync

log = logging.getLogger("poster_sync.webhooks")

# Poster's own redeliveries come minutes apart; a same-second twin comes within a moment.
DUPLICATE_REREAD_SECONDS = 10

WEBHOOK_STATUS = StateTable(
    WebhookLog,
    "status",
    {
        WebhookStatus.RECEIVED: {WebhookStatus.PROCESSING, WebhookStatus.IGNORED},
        WebhookStatus.PROCESSING: {WebhookStatus.PROCESSED, WebhookStatus.FAILED, WebhookStatus.IGNORED},
        WebhookStatus.FAILED: {WebhookStatus.PROCESSING},
        WebhookStatus.PROCESSED: set(),
        WebhookStatus.IGNORED: set(),
        WebhookStatus.REJECTED: set(),
    },
)


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
            signature_valid=False, status=WebhookStatus.REJECTED, error="signature does not match", **common
        )
        log.warning("forged or unverifiable Poster webhook from %s (log %s)", remote_addr, entry.pk)
        return Received("forged", entry.pk)
    account = PosterAccount.objects.filter(account=delivery.account, is_active=True).first()
    synced = delivery.object in WEBHOOK_OBJECTS
    status = WebhookStatus.RECEIVED if account is not None and synced else WebhookStatus.IGNORED
    key = hashlib.sha256(f"{delivery.account}:{delivery.verify.lower()}".encode()).hexdigest()
    if status == WebhookStatus.RECEIVED and account is not None:
        # Marked before the task is queued: a burst's marks land before the first read, which then
        # covers them all, and the tasks after it have nothing left to read (PERF-6).
        object_mark(account=account, object=delivery.object, object_id=delivery.object_id, action=delivery.action)
    try:
        with transaction.atomic():
            entry = WebhookLog.objects.create(
                account=account,
                signature_valid=True,
                delivery_key=key,
                status=status,
                error=""
                if status == WebhookStatus.RECEIVED
                else ("unknown or inactive account" if account is None else f"{delivery.object} is not synced"),
                **common,
            )
            if status == WebhookStatus.RECEIVED:
                from ..tasks import webhook_process as task

                transaction.on_commit(lambda: task.delay(entry.pk, True))
    except IntegrityError:
        # A redelivery or replay of a stored delivery: processed once. Unless it is a twin of a
        # moment ago — possibly a second change within the same second: read the object again.
        if status == WebhookStatus.RECEIVED and account is not None:
            recent = timezone.now() - timedelta(seconds=DUPLICATE_REREAD_SECONDS)
            if WebhookLog.objects.filter(delivery_key=key, received_at__gte=recent).exists():
                from ..tasks import object_refresh

                account_id, fields = account.pk, (delivery.object, delivery.object_id, delivery.action)
                transaction.on_commit(lambda: object_refresh.delay(account_id, *fields))
        return Received("duplicate", None)
    return Received("accepted" if status == WebhookStatus.RECEIVED else "ignored", entry.pk)


def webhook_process(*, log_id: int, final: bool = False, marked: bool = False) -> str:
    """Sync the delivery's object (``marked``: the webhook's request noted the change already).

    A transient failure is re-raised for the task's retry (the log says ``failed`` meanwhile); the
    last attempt, or a permanent error, leaves it ``failed`` and counts toward the staff alert. A
    crash mid-way leaves ``processing``: the sweep retries it."""
    if (
        WEBHOOK_STATUS.advance(
            pk=log_id,
            to=WebhookStatus.PROCESSING,
            from_=[WebhookStatus.RECEIVED, WebhookStatus.FAILED],
            attempts=F("attempts") + 1,
        )
        is None
    ):
        return "not due"  # processed already, or another worker has it
    entry = WebhookLog.objects.select_related("account").get(pk=log_id)
    account = entry.account
    if account is None or not account.is_active:
        WEBHOOK_STATUS.advance(pk=log_id, to=WebhookStatus.IGNORED, error="account gone or inactive")
        return "ignored"
    entity = WEBHOOK_OBJECTS.get(entry.object, "")
    try:
        outcome = object_sync(
            account=account, object=entry.object, object_id=entry.object_id, action=entry.action, marked=marked
        )
    except Exception as exc:
        error = f"{type(exc).__name__}: {exc}"[:2000]
        WEBHOOK_STATUS.advance(pk=log_id, to=WebhookStatus.FAILED, error=error)
        if entity:
            alerts.status_failed(account=account, entity=entity, error=error, full_sync=False)
        retry = isinstance(exc, TransientError) and not final
        log.warning(
            "Poster webhook %s failed (attempt %d%s): %s",
            log_id,
            entry.attempts + 1,
            ", will retry" if retry else "",
            error,
        )
        if retry:
            raise
        return "failed"
    WEBHOOK_STATUS.advance(pk=log_id, to=WebhookStatus.PROCESSED, processed_at=timezone.now(), error=outcome[:2000])
    if entity:
        alerts.status_object_succeeded(account=account, entity=entity)
    return outcome


def object_refresh(*, account_id: int, object: str, object_id: str, action: str) -> str:
    """Read what a same-second twin of a stored delivery marked (it has no log entry of its own)."""
    account = PosterAccount.objects.filter(pk=account_id, is_active=True).first()
    if account is None:
        return "ignored"
    return object_sync(account=account, object=object, object_id=object_id, action=action, marked=True)


def webhooks_due(*, stuck_after_seconds: int = 300) -> list[int]:
    """Deliveries a lost message or a dead worker left behind: received but never picked up, or
    processing far longer than a sync takes. Stuck ones go back to ``failed`` so they can run again."""
    now = timezone.now()
    stale = now - timedelta(seconds=stuck_after_seconds)
    for pk in WebhookLog.objects.filter(status=WebhookStatus.PROCESSING, updated_at__lt=stale).values_list(
        "pk", flat=True
    ):
        WEBHOOK_STATUS.advance(
            pk=pk, to=WebhookStatus.FAILED, from_=WebhookStatus.PROCESSING, error="worker lost while processing"
        )
    received = WebhookLog.objects.filter(status=WebhookStatus.RECEIVED, received_at__lt=now - timedelta(seconds=60))
    retryable = WebhookLog.objects.filter(
        status=WebhookStatus.FAILED,
        attempts__lt=settings.POSTER_WEBHOOK_MAX_ATTEMPTS,
        error="worker lost while processing",
    )
    return list(received.values_list("pk", flat=True)[:500]) + list(retryable.values_list("pk", flat=True)[:500])


def webhook_retry(*, log_id: int) -> bool:
    """Staff's "retry" from the admin: a failed delivery is processed again."""
    entry = WebhookLog.objects.filter(pk=log_id, status=WebhookStatus.FAILED).first()
    if entry is None:
        return False
    from ..tasks import webhook_process as task

    transaction.on_commit(lambda: task.delay(log_id))
    return True
