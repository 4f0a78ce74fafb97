"""Sending the one brew command of a paid order and settling on its outcome (SPEC PAY-6, PAY-8).

The command row is unique per order. How a command whose outcome is unknown is handled depends on
what the channel promises (API_CONTRACTS.md):

- MQTT: the device de-duplicates on ``command_id``, so a command left ``sending`` by a crash (or
  redelivered) is simply published again, up to ``MAX_SEND_ATTEMPTS``.
- Tmetr: nothing de-duplicates a repeated ``orderUuid`` and nothing tells whether a command was
  carried out, so a Tmetr command is sent **at most once**: only a ``queued`` command is claimed, and
  one left ``sending`` (the sender died before recording Tmetr's answer) is never resent — past its
  deadline the sweep fails it and the buyer's money goes back (logged as an error). The drink may
  then have been made for free; it is never made twice, and never charged for when not made (PAY-8).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.exceptions import IntegrationError
from core.logging import untrusted
from payments.clients import mqtt
from payments.models import BrewCommand, Device, OrderStatus, Payment

from .settlement import capture_start, money_back
from .tmetr_auth import tmetr_client
from .transitions import BREW_STATUS, order_transition

log = logging.getLogger("payments")
Status = BrewCommand.Status


def _timeout(device: Device) -> int:
    return device.ack_timeout_seconds or settings.BREW_ACK_TIMEOUT_SECONDS


def brew_create_claimed(*, order: Any, now: datetime | None = None) -> BrewCommand:
    """The order's one brew command, created already claimed (``sending``, first attempt, its
    deadline): what ``brew_claim`` would make of a fresh command, without a second write. For the
    paying transaction that moves the order to make_pending itself (``_apply_status``, PERF-4)."""
    now = now or timezone.now()
    return BrewCommand.objects.create(
        order=order,
        channel=order.device.channel,
        status=Status.SENDING,
        attempts=1,
        sent_at=now,
        deadline=now + timedelta(seconds=_timeout(order.device)),
    )


def brew_claim(*, command: BrewCommand, now: datetime | None = None) -> bool:
    """queued|sending → sending (one more attempt, a fresh deadline) and the order paid → make_pending.

    Runs in the caller's transaction when there is one (the webhook's paying transaction creates its
    command claimed instead: ``brew_create_claimed``). A command found
    ``sending`` is one whose sender died mid-call: claiming it again leads to a resend, which the
    machine de-duplicates — on MQTT only: a Tmetr command is claimed from ``queued`` alone (sent at
    most once, see the module's docstring). False when the command is past sending (sent, done or failed).
    """
    now = now or timezone.now()
    deadline = now + timedelta(seconds=_timeout(command.order.device))
    claimable = BREW_STATUS.sources(
        Status.SENDING,
        from_=[Status.QUEUED, Status.SENDING] if command.channel == Device.Channel.MQTT else Status.QUEUED,
    )
    with transaction.atomic(savepoint=False):
        claimed = BREW_STATUS.move(
            pk=command.pk,
            to=Status.SENDING,
            from_=claimable,
            attempts=F("attempts") + 1,
            sent_at=now,
            deadline=deadline,
        )
        if not claimed:
            return False
        order_transition(
            order_id=command.order_id, to=OrderStatus.MAKE_PENDING, from_=OrderStatus.PAID, note="brew command"
        )
    command.status, command.sent_at, command.deadline = Status.SENDING, now, deadline
    return True


def brew_send(*, command_id: int, command: BrewCommand | None = None) -> str:
    """Claim the command, then send it (the ``brew_send`` task, the sweeps and redelivered deliveries)."""
    if command is None:
        command = BrewCommand.objects.select_related("order", "order__device").get(pk=command_id)
    if not brew_claim(command=command):
        return "noop"
    return brew_publish(command=command)


def brew_publish(*, command: BrewCommand) -> str:
    """Send a claimed (``sending``) command over its channel; record when the broker / Tmetr took it."""
    order = command.order
    device = order.device
    try:
        if command.channel == Device.Channel.MQTT:
            mqtt.publish_command(
                device_id=device.external_id or device.code,
                command_id=str(command.command_id),
                order_id=str(order.pk),
                drink=order.drink_external_id,
                size=order.size,
                price=order.amount,
            )
            _mark_published(command.pk)  # the broker acknowledged the QoS 1 publish
            return "sent"
        tmetr_client(merchant_id=order.merchant_id).make(
            device_id=device.external_id,
            order_uuid=str(order.pk),
            drink_id=order.drink_external_id,
            size=order.size,
            price=order.amount,
        )
    except IntegrationError as exc:
        if exc.permanent or command.channel == Device.Channel.TMETR:
            brew_finish(command_id=command.pk, ok=False, error=str(exc))
            return "failed"
        raise  # transient MQTT trouble: the task retries; the deadline still bounds it
    brew_finish(command_id=command.pk, ok=True, published=True)  # Tmetr's 2xx: done, in one write
    return "done"


def _mark_published(command_id: int) -> None:
    """The publish time always; sending → sent unless an acknowledgement already moved it on (then the
    state is left alone and only the time is written: a second UPDATE, on that race only)."""
    now = timezone.now()
    if not BREW_STATUS.move(pk=command_id, to=Status.SENT, from_=Status.SENDING, published_at=now):
        BrewCommand.objects.filter(pk=command_id).update(published_at=now)


def brew_ack(*, device_id: str, command_id: str, status: str, error: str = "") -> str:
    """An acknowledgement from a device (through the MQTT listener). QoS 1 may deliver it twice.

    It counts only when it arrives on the ack topic of the device the command was sent to
    (``device_id`` is the topic's device segment, which the broker's ACL binds to the device's login)
    and echoes the id of a command already sent over MQTT. Anything else — an unknown or malformed
    id, another device's topic, a command not yet sent — is logged and changes nothing (PAY-6).
    A ``failed`` after ``done`` (or the reverse) finds the command finished: ``brew_finish`` is a no-op.
    """
    try:
        command_uuid = uuid.UUID(str(command_id))
    except ValueError:
        log.warning(
            "ack with a malformed command id %s on device topic %s: ignored",
            untrusted(command_id),
            untrusted(device_id),
        )
        return "unknown"
    command = BrewCommand.objects.select_related("order__device").filter(command_id=command_uuid).first()
    if command is None:
        log.warning("ack for unknown command %s on device topic %s: ignored", command_uuid, untrusted(device_id))
        return "unknown"
    device = command.order.device
    if command.channel != Device.Channel.MQTT or device_id != (device.external_id or device.code):
        log.warning(
            "ack for command %s arrived on device topic %s, not on its device's (%s): ignored",
            command_uuid,
            untrusted(device_id),
            device.pk,
        )
        return "wrong_device"
    if command.status == Status.QUEUED:
        log.warning("ack for command %s that was never sent: ignored", command_uuid)
        return "not_sent"
    if status == "accepted":
        BrewCommand.objects.filter(pk=command.pk, accepted_at__isnull=True).update(accepted_at=timezone.now())
        return "accepted"
    if status in ("done", "failed"):
        return brew_finish(command_id=command.pk, ok=status == "done", error=error)
    log.warning("ack for command %s with unknown status %s: ignored", command_uuid, untrusted(status, 32))
    return "ignored"


def brew_finish(*, command_id: int, ok: bool, error: str = "", published: bool = False) -> str:
    now = timezone.now()
    fields: dict[str, Any] = {"finished_at": now, "error": error[:1000]}
    if published:
        fields["published_at"] = now
    with transaction.atomic():
        finished = BREW_STATUS.move(pk=command_id, to=Status.DONE if ok else Status.FAILED, **fields)
        if not finished:
            return "noop"
        command = BrewCommand.objects.select_related("order").get(pk=command_id)
        order = command.order
        payment = Payment.objects.filter(order=order).first()
        if ok:
            order_transition(
                order_id=order.pk,
                to=OrderStatus.SUCCESSFUL,
                from_=OrderStatus.MAKE_PENDING,
                note="device confirmed the brew",
            )
            if payment is not None:
                capture_start(payment_id=payment.pk)
            return "successful"
        order_transition(
            order_id=order.pk,
            to=OrderStatus.FAILED,
            from_=[OrderStatus.PAID, OrderStatus.MAKE_PENDING],
            note=f"brew failed: {error}",
            error=error[:500],
        )
        if payment is not None:
            money_back(payment_id=payment.pk, reason=f"brew failed: {error}"[:200])
        return "failed"


MAX_SEND_ATTEMPTS = 3


def brews_fail_late(*, now: object = None) -> tuple[int, list[int]]:
    """The periodic sweep over commands past their deadline.

    - ``sent`` (MQTT, no acknowledgement in time) → failed → money back.
    - ``sending`` means the sender died mid-call (a worker crash): whether the machine got it is
      unknown. MQTT: it is sent again — the device de-duplicates on ``command_id`` — up to
      ``MAX_SEND_ATTEMPTS``, then failed. Tmetr: never resent (nothing de-duplicates there): failed
      → money back, logged. Returns (failed count, ids to send again).
    """
    now = now or timezone.now()
    late = list(
        BrewCommand.objects.filter(status__in=[Status.SENDING, Status.SENT], deadline__lt=now).values_list(
            "pk", "status", "attempts", "channel"
        )[:500]
    )
    failed, resend = 0, []
    for pk, status, attempts, channel in late:
        error = "no acknowledgement from the device in time"
        if status == Status.SENDING and channel == Device.Channel.TMETR:
            error = "outcome unknown (the sender died during the Tmetr call): not resent, money back"
            log.error("Tmetr brew command %s: %s", pk, untrusted(error, 200))
        elif status == Status.SENDING and attempts < MAX_SEND_ATTEMPTS:
            resend.append(pk)
            continue
        if brew_finish(command_id=pk, ok=False, error=error) == "failed":
            failed += 1
    return failed, resend


def brew_stuck_queued(*, older_than_seconds: int = 60) -> list[int]:
    """Commands never claimed (their message was lost, e.g. a broker restart): ids to enqueue again."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(BrewCommand.objects.filter(status=Status.QUEUED, created_at__lt=cutoff).values_list("pk", flat=True))


def device_health(*, device: Device, online_within_seconds: int = 600) -> dict[str, object]:
    """Tmetr devices: their last heartbeat; MQTT devices: their last acknowledgement."""
    last = None
    error = ""
    if device.channel == Device.Channel.TMETR:
        try:
            last = tmetr_client(merchant_id=device.merchant_id).heartbeat(device.external_id).at
        except IntegrationError as exc:
            error = str(exc)
    else:
        command = (
            BrewCommand.objects.filter(order__device=device, finished_at__isnull=False).order_by("-finished_at").first()
        )
        last = command.finished_at if command else None
    online = last is not None and (timezone.now() - last).total_seconds() <= online_within_seconds
    return {"online": online, "last_seen": last, "error": error}
