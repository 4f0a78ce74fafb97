"""The buyer's money after the order's fate is known: capture on a brewed drink, otherwise give it back.

Each payment is settled once: ``Payment.settlement`` moves along :data:`PAYMENT_SETTLEMENT` by
compare-and-set (``core.transitions``), and a giving-back is a ``Refund`` row, one-to-one with the
payment, whose status moves along :data:`REFUND_STATUS` (PAY-6, PAY-7, PAY-8).

Delivery guarantee (REL-1). Every provider call here is keyed by the order (``yk-capture-<order>``,
``yk-cancel-<order>``, ``yk-refund-<order>``, T-Bank ``ExternalRequestId tb-return-<order>``), so
running it again is the same operation. The Celery task that makes the call is *at least once
while it lives*: ``acks_late`` + ``reject_on_worker_lost`` requeue it when a pool process dies. It
is not enough on its own: the message is published after the commit by whatever process applied
the outcome (a web request, a worker, the MQTT listener), so a kill between the commit and the
publish loses it; and when the whole worker is killed, Redis hands the unacknowledged message out
again only after the visibility timeout (``CELERY_VISIBILITY_TIMEOUT``) — the same for a retry
waiting for its countdown. The guarantee therefore rests on the database: :func:`settlements_sweep`
(every 30 s) re-drives every capture, cancel and refund that is due and not confirmed after
``PAYMENTS_SETTLEMENT_GRACE_SECONDS``, with the same key, until the provider's answer decides the
final state. Staff run the same thing from the admin (:func:`settlement_retry`).
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from core.exceptions import IntegrationError
from core.logging import untrusted
from core.transitions import StateTable
from payments.models import OrderStatus, Payment, Refund

from . import providers
from .transitions import order_event

log = logging.getLogger("payments")
Settlement = Payment.Settlement

PAYMENT_SETTLEMENT = StateTable(
    Payment,
    "settlement",
    {
        Settlement.NONE: {Settlement.CAPTURING, Settlement.CAPTURED, Settlement.RETURNING},
        Settlement.CAPTURING: {Settlement.CAPTURED, Settlement.CAPTURE_FAILED},
        Settlement.CAPTURED: {Settlement.RETURNING},  # an owner's manual refund
        Settlement.RETURNING: {Settlement.RETURNED, Settlement.RETURN_FAILED},
        Settlement.RETURN_FAILED: {Settlement.RETURNING},  # staff retry it from the admin
        Settlement.RETURNED: set(),
        Settlement.CAPTURE_FAILED: set(),
    },
)
REFUND_STATUS = StateTable(
    Refund,
    "status",
    {
        Refund.Status.PENDING: {Refund.Status.SUCCEEDED, Refund.Status.FAILED},
        Refund.Status.FAILED: {Refund.Status.PENDING},  # staff retry it from the admin
        Refund.Status.SUCCEEDED: set(),
    },
)
# A refund tried this many times (by its task's retries and the sweep) without an answer is failed.
MAX_REFUND_ATTEMPTS = 20


def money_back(*, payment_id: int, reason: str, after_capture: bool = False) -> Refund | None:
    """Cancel the hold or refund the payment, once. None if already settled or nothing was paid.

    ``after_capture`` (an owner's manual refund) also returns money already captured.
    """
    with transaction.atomic():
        payment = Payment.objects.get(pk=payment_id)
        if not payment.holds_money:
            return None
        sources = [Settlement.NONE, Settlement.CAPTURED] if after_capture else [Settlement.NONE]
        if PAYMENT_SETTLEMENT.advance(pk=payment_id, to=Settlement.RETURNING, from_=sources) is None:
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
            PAYMENT_SETTLEMENT.advance(pk=payment_id, to=Settlement.CAPTURED, from_=Settlement.NONE)
            return False
        claimed = PAYMENT_SETTLEMENT.advance(
            pk=payment_id,
            to=Settlement.CAPTURING,
            from_=Settlement.NONE,
            where={"status": Payment.Status.WAITING_FOR_CAPTURE},
        )
        if claimed:
            from payments.tasks import payment_capture

            transaction.on_commit(lambda: payment_capture.delay(payment_id))
        return bool(claimed)


def capture_execute(*, payment_id: int) -> str:
    """Capture a ``capturing`` payment (keyed by the order: a repeated call captures once).

    When the provider refuses (a 4xx), its own record decides: a payment it reports ``succeeded``
    was captured by an earlier attempt whose answer was lost; one it reports ``canceled`` lost its
    hold (it lapsed or was cancelled): the drink was not charged, which staff see as
    ``capture_failed``. Returns "captured", "capture_failed" or "noop".
    """
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if payment.settlement != Settlement.CAPTURING:
        return "noop"
    Payment.objects.filter(pk=payment_id).update(updated_at=timezone.now())  # the sweep's grace restarts
    try:
        providers.capture(payment)
    except IntegrationError as exc:
        if not exc.permanent:
            raise
        remote = _remote(payment)
        if remote != Payment.Status.SUCCEEDED:
            if remote != Payment.Status.CANCELED:
                raise  # still held and refused: left capturing, the sweep tries again
            if PAYMENT_SETTLEMENT.advance(
                pk=payment_id, to=Settlement.CAPTURE_FAILED, from_=Settlement.CAPTURING, status=Payment.Status.CANCELED
            ):
                order_event(order_id=payment.order_id, kind="capture", note=f"capture FAILED, hold canceled: {exc}")
                log.error(
                    "capture of payment %s failed: the provider canceled the hold (%s)",
                    payment_id,
                    untrusted(str(exc), 200),
                )
            return "capture_failed"
    if PAYMENT_SETTLEMENT.advance(
        pk=payment_id, to=Settlement.CAPTURED, from_=Settlement.CAPTURING, status=Payment.Status.SUCCEEDED
    ):
        order_event(order_id=payment.order_id, kind="capture", note="payment captured")
    return "captured"


def _remote(payment: Payment) -> str:
    """The payment's status as the provider reports it now (normalised)."""
    return providers.fetch(
        provider=payment.provider,
        account=providers.account_for(payment.order.merchant_id),
        provider_payment_id=payment.provider_payment_id or "",
    ).status


def refund_execute(*, refund_id: int, final: bool = False) -> str:
    """Cancel the hold / refund the payment of a ``pending`` refund (keyed by the order).

    A refusal (4xx) is checked against the provider's record of the payment first: a cancel whose
    payment it already reports ``canceled`` was done by an earlier attempt whose answer was lost.
    Returns "succeeded", "failed" or "noop".
    """
    refund = Refund.objects.select_related("payment", "payment__order").get(pk=refund_id)
    if refund.status != Refund.Status.PENDING:
        return "noop"
    Refund.objects.filter(pk=refund_id).update(attempts=F("attempts") + 1)
    Payment.objects.filter(pk=refund.payment_id).update(updated_at=timezone.now())  # the sweep's grace restarts
    final = final or refund.attempts + 1 >= MAX_REFUND_ATTEMPTS
    try:
        provider_refund_id = providers.give_back(refund.payment, kind=refund.kind)
    except IntegrationError as exc:
        if exc.permanent and _already_returned(refund):
            provider_refund_id = ""
        elif exc.permanent or final:
            with transaction.atomic():
                if REFUND_STATUS.advance(
                    pk=refund_id,
                    to=Refund.Status.FAILED,
                    from_=Refund.Status.PENDING,
                    error=str(exc)[:1000],
                    finished_at=timezone.now(),
                ):
                    PAYMENT_SETTLEMENT.advance(
                        pk=refund.payment_id, to=Settlement.RETURN_FAILED, from_=Settlement.RETURNING
                    )
                    order_event(order_id=refund.payment.order_id, kind="refund", note=f"{refund.kind} FAILED: {exc}")
            log.error("money back for payment %s failed: %s", refund.payment_id, untrusted(str(exc), 200))
            return "failed"
        else:
            raise
    with transaction.atomic():
        if REFUND_STATUS.advance(
            pk=refund_id,
            to=Refund.Status.SUCCEEDED,
            from_=Refund.Status.PENDING,
            provider_refund_id=provider_refund_id,
            finished_at=timezone.now(),
        ):
            PAYMENT_SETTLEMENT.advance(pk=refund.payment_id, to=Settlement.RETURNED, from_=Settlement.RETURNING)
            order_event(order_id=refund.payment.order_id, kind="refund", note=f"{refund.kind} succeeded")
    return "succeeded"


def _already_returned(refund: Refund) -> bool:
    """Whether the provider already reports the money back (the payment canceled / reversed / refunded).

    A YooKassa refund of a captured payment leaves the payment ``succeeded``: there only the
    idempotence key tells, so it is not inferred here.
    """
    payment = refund.payment
    if payment.provider == "yookassa" and refund.kind == Refund.Kind.REFUND:
        return False
    try:
        return _remote(payment) == Payment.Status.CANCELED
    except IntegrationError as exc:
        log.warning("re-reading payment %s failed: %s", payment.pk, untrusted(str(exc), 200))
        return False


# --- re-driving what a crash left behind -----------------------------------------------------------


def _grace() -> timedelta:
    return timedelta(seconds=settings.PAYMENTS_SETTLEMENT_GRACE_SECONDS)


def stuck_settlements(*, older_than: timedelta | None = None) -> Q:
    """Payments whose money movement is due and not confirmed for longer than the grace period.

    - ``capturing``: the capture was not confirmed;
    - ``returning`` with its refund ``pending``: the cancel or refund was not confirmed;
    - ``none`` while holding money for an order that is over: the capture or the return was never
      started (the brew outcome was applied, the settlement not).
    """
    cutoff = timezone.now() - (older_than if older_than is not None else _grace())
    money = [Payment.Status.WAITING_FOR_CAPTURE, Payment.Status.SUCCEEDED]
    return Q(updated_at__lt=cutoff) & (
        Q(settlement=Settlement.CAPTURING)
        | Q(settlement=Settlement.RETURNING, refund__status=Refund.Status.PENDING)
        | Q(
            settlement=Settlement.NONE,
            status__in=money,
            order__status__in=[OrderStatus.SUCCESSFUL, OrderStatus.FAILED, OrderStatus.NOT_PAID],
        )
    )


def settlement_retry(*, payment_id: int, staff: bool = False) -> str:
    """Run the payment's due money movement now, with the same idempotence key (the sweep, the admin).

    ``staff`` also re-opens a failed return (``return_failed`` → ``returning``): staff decided to
    try again after fixing the cause. Returns what happened (for the admin's message).
    """
    payment = Payment.objects.select_related("order").get(pk=payment_id)
    if staff and payment.settlement == Settlement.RETURN_FAILED:
        with transaction.atomic():
            if PAYMENT_SETTLEMENT.advance(pk=payment_id, to=Settlement.RETURNING, from_=Settlement.RETURN_FAILED):
                REFUND_STATUS.advance(
                    pk=payment.refund.pk, to=Refund.Status.PENDING, from_=Refund.Status.FAILED, attempts=0, error=""
                )
                order_event(order_id=payment.order_id, kind="refund", note="return retried by staff")
        payment.refresh_from_db()
    if payment.settlement == Settlement.CAPTURING:
        return capture_execute(payment_id=payment_id)
    if payment.settlement == Settlement.RETURNING:
        refund = Refund.objects.filter(payment_id=payment_id).first()
        return refund_execute(refund_id=refund.pk) if refund is not None else "noop"
    if payment.settlement == Settlement.NONE and payment.holds_money:
        status = payment.order.status
        if status == OrderStatus.SUCCESSFUL:
            capture_start(payment_id=payment_id)
            return capture_execute(payment_id=payment_id) if payment.status != Payment.Status.SUCCEEDED else "kept"
        if status in (OrderStatus.FAILED, OrderStatus.NOT_PAID):
            refund = money_back(payment_id=payment_id, reason=f"order {status}, found unsettled")
            return refund_execute(refund_id=refund.pk) if refund is not None else "noop"
    return "noop"


def settlements_sweep(*, limit: int = 200) -> dict[str, int]:
    """The periodic re-drive (REL-1): every stuck settlement is run again, here, one by one.

    A transient failure leaves it for the next round (its grace restarts); one payment's trouble
    never stops the sweep. Returns counts by outcome.
    """
    ids = list(Payment.objects.filter(stuck_settlements()).order_by("updated_at").values_list("pk", flat=True)[:limit])
    outcomes: dict[str, int] = {}
    for payment_id in ids:
        try:
            outcome = settlement_retry(payment_id=payment_id)
        except Exception as exc:  # logged; the next round tries again
            log.warning("settlement of payment %s not done yet: %s", payment_id, untrusted(str(exc), 200))
            outcome = "error"
        else:
            if outcome != "noop":
                log.warning("settlement of payment %s re-driven by the sweep: %s", payment_id, outcome)
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
    return outcomes
