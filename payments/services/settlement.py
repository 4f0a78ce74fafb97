"""The buyer's money after the order's fate is known: capture on a brewed drink, otherwise give it back.

Each payment is settled once: ``Payment.settlement`` moves by compare-and-set out of ``none``, and
a giving-back is a ``Refund`` row, one-to-one with the payment (PAY-6, PAY-7, PAY-8).
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import IntegrationError
from payments.models import Payment, Refund

from . import providers
from .transitions import order_event

log = logging.getLogger("payments")
Settlement = Payment.Settlement


def money_back(*, payment_id: int, reason: str, after_capture: bool = False) -> Refund | None:
    """Cancel the hold or refund the payment, once. None if already settled or nothing was paid.

    ``after_capture`` (an owner's manual refund) also returns money already captured.
    """
    with transaction.atomic():
        payment = Payment.objects.get(pk=payment_id)
        if not payment.holds_money:
            return None
        sources = [Settlement.NONE, Settlement.CAPTURED] if after_capture else [Settlement.NONE]
        claimed = Payment.objects.filter(pk=payment_id, settlement__in=sources).update(
            settlement=Settlement.RETURNING, updated_at=timezone.now()
        )
        if not claimed:
            return None
        payment.refresh_from_db(fields=["status"])
        kind = Refund.Kind.CANCEL if payment.status == Payment.Status.WAITING_FOR_CAPTURE else Refund.Kind.REFUND
        try:
            with transaction.atomic():
                refund = Refund.objects.create(
                    payment_id=payment_id, kind=kind, amount=payment.amount, reason=reason[:200]
                )
        except IntegrityError:
            return None
        order_event(order_id=payment.order_id, kind="refund", note=f"{kind} started: {reason}")
        from payments.tasks import refund_execute

        transaction.on_commit(lambda: refund_execute.delay(refund.pk))
        return refund


def capture_start(*, payment_id: int) -> bool:
    """After a successful brew: capture a hold (two-stage) or simply keep a one-stage payment."""
    with transaction.atomic():
        payment = Payment.objects.get(pk=payment_id)
        if payment.status == Payment.Status.SUCCEEDED:
            Payment.objects.filter(pk=payment_id, settlement=Settlement.NONE).update(settlement=Settlement.CAPTURED)
            return False
        claimed = Payment.objects.filter(
            pk=payment_id, settlement=Settlement.NONE, status=Payment.Status.WAITING_FOR_CAPTURE
        ).update(settlement=Settlement.CAPTURING, updated_at=timezone.now())
        if claimed:
            from payments.tasks import payment_capture

            transaction.on_commit(lambda: payment_capture.delay(payment_id))
        return bool(claimed)


def capture_execute(*, payment_id: int) -> None:
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.settlement != Settlement.CAPTURING:
        return
    providers.capture(payment)  # keyed by the order: a repeated call captures once
    Payment.objects.filter(pk=payment_id, settlement=Settlement.CAPTURING).update(
        settlement=Settlement.CAPTURED, status=Payment.Status.SUCCEEDED, updated_at=timezone.now()
    )
    order_event(order_id=payment.order_id, kind="capture", note="payment captured")


def refund_execute(*, refund_id: int, final: bool = False) -> None:
    refund = Refund.objects.select_related("payment", "payment__order").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING:
        return
    Refund.objects.filter(pk=refund_id).update(attempts=refund.attempts + 1)
    try:
        provider_refund_id = providers.give_back(refund.payment, kind=refund.kind)
    except IntegrationError as exc:
        if exc.permanent or final:
            Refund.objects.filter(pk=refund_id, status=Refund.Status.PENDING).update(
                status=Refund.Status.FAILED, error=str(exc)[:1000], finished_at=timezone.now()
            )
            Payment.objects.filter(pk=refund.payment_id).update(settlement=Settlement.RETURN_FAILED)
            order_event(order_id=refund.payment.order_id, kind="refund", note=f"{refund.kind} FAILED: {exc}")
            log.error("money back for payment %s failed: %s", refund.payment_id, exc)
            return
        raise
    with transaction.atomic():
        Refund.objects.filter(pk=refund_id, status=Refund.Status.PENDING).update(
            status=Refund.Status.SUCCEEDED, provider_refund_id=provider_refund_id, finished_at=timezone.now()
        )
        Payment.objects.filter(pk=refund.payment_id).update(settlement=Settlement.RETURNED, updated_at=timezone.now())
        order_event(order_id=refund.payment.order_id, kind="refund", note=f"{refund.kind} succeeded")
