"""Sending the one brew command of a paid order and settling on its outcome (SPEC PAY-6, PAY-8).

The command row is unique per order; its ``command_id`` (MQTT) / the order id (Tmetr ``orderUuid``)
is what the machine de-duplicates on, so a redelivered task after a worker crash may resend it
safely and the drink is still made once.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, F, Value, When
from django.utils import timezone

from core.exceptions import IntegrationError
from payments.clients import mqtt
from payments.models import BrewCommand, Device, OrderStatus, Payment

from .settlement import capture_start, money_back
from .tmetr_auth import tmetr_client
from .transitions import order_transition

log = logging.getLogger("payments")
Status = BrewCommand.Status


def _timeout(device: Device) -> int:
    return device.ack_timeout_seconds or settings.BREW_ACK_TIMEOUT_SECONDS


def brew_claim(*, command: BrewCommand, now: datetime | None = None) -> bool:
    """queued|sending → sending (one more attempt, a fresh deadline) and the order paid → make_pending.

    Runs in the caller's transaction when there is one, so the paying transaction can claim the
    command it just created (one commit less on the latency-critical path, PERF-4). A command found
    ``sending`` is one whose sender died mid-call: claiming it again leads to a resend, which the
    machine de-duplicates. False when the command is past sending (sent, done or failed).
    """
    now = now or timezone.now()
    deadline = now + timedelta(seconds=_timeout(command.order.device))
    with transaction.atomic(savepoint=False):
        claimed = BrewCommand.objects.filter(pk=command.pk, status__in=[Status.QUEUED, Status.SENDING]).update(
            status=Status.SENDING, attempts=F("attempts") + 1, sent_at=now, deadline=deadline
        )
        if not claimed:
            return False
        order_transition(order_id=command.order_id, to=OrderStatus.MAKE_PENDING, from_=OrderStatus.PAID,
                         note="brew command")
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
    _mark_published(command.pk)
    brew_finish(command_id=command.pk, ok=True)
    return "done"


def _mark_published(command_id: int) -> None:
    """One UPDATE: the publish time always; sending → sent unless an acknowledgement already moved it on."""
    BrewCommand.objects.filter(pk=command_id).update(
        published_at=timezone.now(),
        status=Case(When(status=Status.SENDING, then=Value(Status.SENT)), default=F("status")),
    )


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
        log.warning("ack with a malformed command id %.64r on device topic %.64r: ignored", command_id, device_id)
        return "unknown"
    command = (BrewCommand.objects.select_related("order__device").filter(command_id=command_uuid).first())
    if command is None:
        log.warning("ack for unknown command %s on device topic %.64r: ignored", command_uuid, device_id)
        return "unknown"
    device = command.order.device
    if command.channel != Device.Channel.MQTT or device_id != (device.external_id or device.code):
        log.warning("ack for command %s arrived on device topic %.64r, not on its device's (%s): ignored",
                    command_uuid, device_id, device.pk)
        return "wrong_device"
    if command.status == Status.QUEUED:
        log.warning("ack for command %s that was never sent: ignored", command_uuid)
        return "not_sent"
    if status == "accepted":
        BrewCommand.objects.filter(pk=command.pk, accepted_at__isnull=True).update(accepted_at=timezone.now())
        return "accepted"
    if status in ("done", "failed"):
        return brew_finish(command_id=command.pk, ok=status == "done", error=error)
    log.warning("ack for command %s with unknown status %.32r: ignored", command_uuid, status)
    return "ignored"


def brew_finish(*, command_id: int, ok: bool, error: str = "") -> str:
    with transaction.atomic():
        finished = BrewCommand.objects.filter(
            pk=command_id, status__in=[Status.QUEUED, Status.SENDING, Status.SENT]
        ).update(status=Status.DONE if ok else Status.FAILED, finished_at=timezone.now(), error=error[:1000])
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
      unknown, so it is sent again — the machine de-duplicates on the command/order id — up to
      ``MAX_SEND_ATTEMPTS``, then failed. Returns (failed count, ids to send again).
    """
    now = now or timezone.now()
    late = list(BrewCommand.objects.filter(status__in=[Status.SENDING, Status.SENT], deadline__lt=now)
                .values_list("pk", "status", "attempts")[:500])
    failed, resend = 0, []
    for pk, status, attempts in late:
        if status == Status.SENDING and attempts < MAX_SEND_ATTEMPTS:
            resend.append(pk)
            continue
        if brew_finish(command_id=pk, ok=False, error="no acknowledgement from the device in time") == "failed":
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
        command = (BrewCommand.objects.filter(order__device=device, finished_at__isnull=False)
                   .order_by("-finished_at").first())
        last = command.finished_at if command else None
    online = last is not None and (timezone.now() - last).total_seconds() <= online_within_seconds
    return {"online": online, "last_seen": last, "error": error}
