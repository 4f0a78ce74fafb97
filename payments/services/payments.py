"""Applying provider payment states to orders; webhook deliveries; reconciliation (PAY-4, PAY-5, PAY-8)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists
from django.utils import timezone

from core.logging import untrusted
from payments.models import BrewCommand, OrderStatus, Payment, WebhookDelivery

from . import providers
from .brew import brew_create_claimed, brew_publish, brew_send
from .settlement import money_back
from .transitions import order_event, order_transition, order_transitions

log = logging.getLogger("payments")

_RANK: dict[str, int] = {
    Payment.Status.PENDING: 0,
    Payment.Status.WAITING_FOR_CAPTURE: 1,
    Payment.Status.SUCCEEDED: 2,
    Payment.Status.CANCELED: 3,
}
# A notification claiming status S is authentic only if the provider now reports S or a later state.
_REACHABLE = {
    "pending": {"pending", "waiting_for_capture", "succeeded", "canceled"},
    "waiting_for_capture": {"waiting_for_capture", "succeeded", "canceled"},
    "succeeded": {"succeeded"},
    "canceled": {"canceled"},
}


def status_confirms(claimed: str, actual: str) -> bool:
    return actual in _REACHABLE.get(claimed, set())


def payment_apply_status(*, payment_id: int, status: str, source: str, enqueue_brew: bool = True) -> str:
    """Apply a provider status we have verified. Safe to call any number of times, in any order.

    Returns what happened: "paid", "late", "not_paid" or "noop". When it pays the order, the one
    brew command is created and (``enqueue_brew``) sent by the ``brew_send`` task after commit.
    """
    return _apply_status(payment_id=payment_id, status=status, source=source, enqueue_brew=enqueue_brew)[0]


@transaction.atomic(savepoint=False)
def _apply_status(
    *, payment_id: int, status: str, source: str, enqueue_brew: bool, claim: bool = False
) -> tuple[str, BrewCommand | None]:
    """``claim``: the caller publishes the command itself after the commit, so the command is created
    claimed and the order goes pending → paid → make_pending in this transaction (both steps logged)."""
    payment = Payment.objects.select_for_update().select_related("order", "order__device").get(pk=payment_id)
    if _RANK.get(status, -1) > _RANK.get(payment.status, -1):
        Payment.objects.filter(pk=payment.pk).update(status=status, updated_at=timezone.now())
        payment.status = status
    order = payment.order
    if status in (Payment.Status.WAITING_FOR_CAPTURE, Payment.Status.SUCCEEDED):
        paid_note = f"{source}: payment {status}"
        if claim and order_transitions(
            order_id=order.pk,
            from_=OrderStatus.PENDING,
            path=[(OrderStatus.PAID, paid_note), (OrderStatus.MAKE_PENDING, "brew command")],
        ):
            order.status = OrderStatus.MAKE_PENDING
            # The one brew of this order: the unique one-to-one makes a second row impossible.
            return "paid", brew_create_claimed(order=order)
        if not claim and order_transition(
            order_id=order.pk, to=OrderStatus.PAID, from_=OrderStatus.PENDING, note=paid_note
        ):
            order.status = OrderStatus.PAID
            # The one brew of this order: the unique one-to-one makes a second row impossible.
            command = BrewCommand.objects.create(order=order, channel=order.device.channel)
            if enqueue_brew:
                from payments.tasks import brew_send

                transaction.on_commit(lambda: brew_send.delay(command.pk))
            return "paid", command
        order.refresh_from_db(fields=["status"])
        if order.status in (OrderStatus.NOT_PAID, OrderStatus.CREATED):
            # Paid after the order expired (or was given up): never brewed, never kept (PAY-7).
            money_back(payment_id=payment.pk, reason=f"late payment ({source})")
            return "late", None
        if order.status == OrderStatus.FAILED:
            money_back(payment_id=payment.pk, reason="order failed")
        return "noop", None
    if status == Payment.Status.CANCELED and order_transition(
        order_id=order.pk,
        to=OrderStatus.NOT_PAID,
        from_=[OrderStatus.PENDING, OrderStatus.CREATED],
        note=f"{source}: payment canceled",
    ):
        return "not_paid", None
    return "noop", None


@dataclass(frozen=True)
class Recorded:
    delivery: WebhookDelivery | None
    duplicate: bool


def webhook_record(
    *,
    provider: str,
    event_key: str,
    event: str,
    payment_id: int,
    provider_payment_id: str,
    verified_status: str,
    payload: dict[str, Any],
    remote_addr: str | None,
) -> Recorded:
    """Store an authentic delivery once; enqueue its processing after commit.

    Outside a transaction the INSERT is one statement that commits itself (autocommit): one round
    trip instead of BEGIN, INSERT, COMMIT on the webhook's hot path (PERF-4). Inside a caller's
    transaction a savepoint keeps that transaction usable after a duplicate."""
    fields = {
        "provider": provider,
        "event_key": event_key[:200],
        "event": event[:64],
        "payment_id": payment_id,
        "provider_payment_id": provider_payment_id,
        "verified_status": verified_status,
        "payload": payload,
        "remote_addr": remote_addr or None,
    }
    try:
        if transaction.get_connection().in_atomic_block:
            with transaction.atomic():
                delivery = WebhookDelivery.objects.create(**fields)
        else:
            delivery = WebhookDelivery.objects.create(**fields)
    except IntegrityError:
        return Recorded(delivery=None, duplicate=True)
    from payments.tasks import brew_process_delivery

    # Committed already (autocommit), or at the caller's commit.
    transaction.on_commit(lambda: brew_process_delivery.delay(delivery.pk))
    return Recorded(delivery=delivery, duplicate=False)


def webhook_process(*, delivery_id: int) -> str:
    """Apply a delivery. When it pays the order, the same transaction creates the brew command and
    claims it for sending, and the command is published right here after the commit — no second
    queue hop and no second transaction on the latency-critical path (PERF-4). A crash after the
    commit leaves the command ``sending``: the redelivered task sends it again (the machine
    de-duplicates), as does the sweep of late commands."""
    delivery = WebhookDelivery.objects.get(pk=delivery_id)
    payment_id = delivery.payment_id
    if payment_id is None:  # stored by code older than the link (a rolling deploy): find it by the provider's id
        payment_id = (
            Payment.objects.filter(provider=delivery.provider, provider_payment_id=delivery.provider_payment_id)
            .values_list("pk", flat=True)
            .first()
        )
    if delivery.processed_at is not None:
        if payment_id is not None:
            _send_pending_brew(payment_id=payment_id)
        return "noop"
    command = None
    with transaction.atomic():
        if payment_id is None:
            outcome, result = WebhookDelivery.Outcome.IGNORED, "unknown payment"
        else:
            result, command = _apply_status(
                payment_id=payment_id,
                status=delivery.verified_status,
                source=f"webhook {delivery.event}",
                enqueue_brew=False,
                claim=True,  # created claimed: published below, after the commit
            )
            outcome = WebhookDelivery.Outcome.APPLIED if result != "noop" else WebhookDelivery.Outcome.IGNORED
        WebhookDelivery.objects.filter(pk=delivery.pk, processed_at__isnull=True).update(
            processed_at=timezone.now(), outcome=outcome, note=result
        )
    if command is not None:
        brew_publish(command=command)
    return result


def _send_pending_brew(*, payment_id: int) -> None:
    command = (
        BrewCommand.objects.select_related("order", "order__device")
        .filter(order__payment__id=payment_id, status__in=[BrewCommand.Status.QUEUED, BrewCommand.Status.SENDING])
        .first()
    )
    if command is not None:
        brew_send(command_id=command.pk, command=command)


def deliveries_unprocessed(*, older_than_seconds: int = 30, limit: int = 500) -> list[int]:
    """Stored deliveries whose processing message was lost (a broker restart or flush): ids to enqueue
    again. Processing is idempotent, so one also still in the queue is merely applied twice, harmlessly."""
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    return list(
        WebhookDelivery.objects.filter(processed_at__isnull=True, received_at__lt=cutoff)
        .order_by("received_at")
        .values_list("pk", flat=True)[:limit]
    )


def payment_for_notification(*, provider: str, provider_payment_id: str, event_key: str) -> Payment | None:
    """The payment a notification names, with its merchant's payment account, in one query on the
    webhook's hot path (PERF-4), annotated with ``known``: this provider event is already stored (a
    redelivery, answered without more work)."""
    return (
        Payment.objects.select_related("order", "order__merchant__payment_account")
        .annotate(known=Exists(WebhookDelivery.objects.filter(provider=provider, event_key=event_key[:200])))
        .filter(provider=provider, provider_payment_id=provider_payment_id)
        .first()
    )


def payments_reconcile(*, limit: int = 200) -> int:
    """Re-read payments still pending at the provider whose webhook may have been lost."""
    cutoff = timezone.now() - timedelta(seconds=settings.PAYMENT_RECONCILE_AFTER_SECONDS)
    horizon = timezone.now() - timedelta(days=2)
    candidates = (
        Payment.objects.select_related("order")
        .filter(
            status__in=[Payment.Status.PENDING, Payment.Status.WAITING_FOR_CAPTURE],
            provider_payment_id__isnull=False,
            created_at__lt=cutoff,
            created_at__gt=horizon,
        )
        .order_by("updated_at")[:limit]
    )
    changed = 0
    for payment in candidates:
        if payment.status == Payment.Status.WAITING_FOR_CAPTURE and payment.order.status != OrderStatus.PENDING:
            continue  # already acted upon; the hold is settled by the brew outcome
        try:
            remote = providers.fetch(
                provider=payment.provider,
                account=providers.account_for(payment.order.merchant_id),
                provider_payment_id=payment.provider_payment_id or "",
            )
        except Exception as exc:  # one bad account must not stop the sweep
            log.warning("reconcile %s failed: %s", payment.pk, untrusted(str(exc), 200))
            Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now())
            continue
        if remote.status != payment.status:
            result = payment_apply_status(payment_id=payment.pk, status=remote.status, source="reconciliation")
            order_event(order_id=payment.order_id, kind="payment", note=f"reconciled: {remote.status} ({result})")
            changed += 1
        else:
            Payment.objects.filter(pk=payment.pk).update(updated_at=timezone.now())
    return changed
