"""Sending deliveries with retries and backoff, and the digest past the hourly cap (SPEC OWN-4).

A delivery is claimed (``select_for_update(skip_locked)``, ``next_attempt_at`` pushed past a
lease) in a short transaction, sent outside any transaction, then marked. A failure marks the
channel failing and retries after 30 s, 60 s, 120 s … (at most an hour), giving up after
``MAX_ATTEMPTS``; a crash mid-send leaves the row to be retried when the lease ends.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from ..clients import notify
from ..models import AlertChannel, Delivery
from .lifecycle import alert_hourly_cap, alert_quiet_now

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)
BATCH = 20  # × Apprise's 4 s + 4 s worst case stays under the task time limit


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(30 * 2 ** max(attempts - 1, 0), 3600))


def _send(channel: AlertChannel, title: str, body: str) -> None:
    if channel.kind == AlertChannel.Kind.EMAIL:
        notify.send_email(to=channel.email_to, title=title, body=body)
    elif channel.kind == AlertChannel.Kind.TELEGRAM:
        notify.send_apprise(
            url=notify.telegram_url(token=channel.secret, chat_id=channel.telegram_chat_id), title=title, body=body
        )
    else:
        notify.send_apprise(url=channel.secret, title=title, body=body)


def _claim() -> list[int]:
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            Delivery.objects.select_for_update(skip_locked=True)
            .filter(status=Delivery.Status.PENDING, next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .values_list("id", flat=True)[:BATCH]
        )
        Delivery.objects.filter(pk__in=ids).update(next_attempt_at=now + LEASE)
    return ids


def delivery_send(*, delivery_id: int) -> bool:
    delivery = Delivery.objects.select_related("channel").get(pk=delivery_id)
    channel = delivery.channel
    if not channel.is_active:  # switched off after the message was queued: not sent, and said so
        Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.FAILED, last_error="channel switched off")
        return False
    try:
        _send(channel, delivery.title, delivery.body)
    except notify.DeliveryError as exc:
        attempts = delivery.attempts + 1
        gave_up = attempts >= MAX_ATTEMPTS
        Delivery.objects.filter(pk=delivery.pk).update(
            attempts=attempts,
            last_error=str(exc)[:500],
            status=Delivery.Status.FAILED if gave_up else Delivery.Status.PENDING,
            next_attempt_at=timezone.now() + backoff(attempts),
        )
        AlertChannel.objects.filter(pk=channel.pk).update(is_failing=True, last_error=str(exc)[:500])
        log.warning(
            "alert delivery %s to channel %s failed (attempt %s): %.120r", delivery.pk, channel.pk, attempts, str(exc)
        )
        return False
    now = timezone.now()
    Delivery.objects.filter(pk=delivery.pk).update(
        status=Delivery.Status.SENT, attempts=delivery.attempts + 1, sent_at=now, last_error=""
    )
    AlertChannel.objects.filter(pk=channel.pk).update(is_failing=False, last_error="", last_sent_at=now)
    return True


def digests_queue() -> int:
    """For a channel with held messages, room under its cap and out of quiet hours: one digest of them all."""
    now = timezone.now()
    made = 0
    channel_ids = set(Delivery.objects.filter(status=Delivery.Status.HELD).values_list("channel_id", flat=True))
    for channel in AlertChannel.objects.filter(pk__in=channel_ids):
        recent = (
            Delivery.objects.filter(channel=channel, created_at__gte=now - timedelta(hours=1))
            .filter(status__in=[Delivery.Status.PENDING, Delivery.Status.SENT, Delivery.Status.FAILED])
            .exclude(event=Delivery.Event.TEST)
            .count()
        )
        if recent >= alert_hourly_cap(channel.merchant_id) or alert_quiet_now(channel.merchant_id):
            continue
        with transaction.atomic():
            held = list(
                Delivery.objects.select_for_update(skip_locked=True)
                .filter(channel=channel, status=Delivery.Status.HELD)
                .order_by("created_at", "id")
            )
            if not held:
                continue
            Delivery.objects.filter(pk__in=[d.pk for d in held]).update(status=Delivery.Status.DIGESTED)
            Delivery.objects.create(
                channel=channel,
                event=Delivery.Event.DIGEST,
                title=f"merchant-ops: {len(held)} more alert message(s) this hour",
                body="\n".join(f"{d.created_at:%H:%M} {d.title}" for d in held)[:20_000],
                next_attempt_at=now,
            )
            made += 1
    return made


def deliveries_send_due() -> tuple[int, int]:
    """Send what is due (digests first made): (sent, failed)."""
    digests_queue()
    sent = failed = 0
    for delivery_id in _claim():
        if delivery_send(delivery_id=delivery_id):
            sent += 1
        else:
            failed += 1
    return sent, failed
