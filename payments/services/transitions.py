"""State tables of payments (SPEC PAY-2) on ``core.transitions``: compare-and-set transitions.

``ORDER_STATUS`` is the order state machine; every move is logged as an ``OrderEvent`` in the
same transaction. ``BREW_STATUS`` is the brew command's (``brew_claim``, ``_mark_published``,
``brew_finish`` in ``services/brew.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise
from typing import Any

from django.db import transaction
from django.utils import timezone

from core.transitions import StateTable, TransitionNotAllowed
from payments.models import BrewCommand, Order, OrderEvent, OrderStatus

S = OrderStatus
B = BrewCommand.Status

ORDER_STATUS = StateTable(
    Order,
    "status",
    {
        S.CREATED: {S.PENDING, S.NOT_PAID},
        S.PENDING: {S.PAID, S.NOT_PAID},
        S.PAID: {S.MAKE_PENDING, S.FAILED},
        S.MAKE_PENDING: {S.SUCCESSFUL, S.FAILED},
        S.NOT_PAID: set(),
        S.SUCCESSFUL: set(),
        S.FAILED: set(),
    },
)

BREW_STATUS = StateTable(
    BrewCommand,
    "status",
    {
        B.QUEUED: {B.SENDING, B.DONE, B.FAILED},
        # sending → sending: a resend of a command whose sender died mid-call; MQTT only (the machine
        # de-duplicates), a Tmetr command is sent at most once (services/brew.py).
        B.SENDING: {B.SENDING, B.SENT, B.DONE, B.FAILED},
        B.SENT: {B.DONE, B.FAILED},
        B.DONE: set(),
        B.FAILED: set(),
    },
)

TRANSITIONS = ORDER_STATUS.table
TERMINAL = ORDER_STATUS.terminal

__all__ = [
    "BREW_STATUS",
    "ORDER_STATUS",
    "TERMINAL",
    "TRANSITIONS",
    "TransitionNotAllowed",
    "can_transition",
    "order_event",
    "order_transition",
    "order_transitions",
]


def can_transition(from_status: str, to_status: str) -> bool:
    return ORDER_STATUS.can(from_status, to_status)


def order_transition(
    *, order_id: Any, to: str, from_: str | Iterable[str] | None = None, note: str = "", **fields: Any
) -> bool:
    """Move the order to ``to`` if it is in one of the allowed source states; False if someone else won.

    A conditional UPDATE: of two concurrent callers exactly one moves the row and logs the event.
    """
    if from_ is None and not ORDER_STATUS.sources(to):
        return False  # nothing leads there (e.g. back to created): no move, as for a lost race
    # No savepoint: callers are usually inside their own transaction, and this is one UPDATE + INSERT.
    with transaction.atomic(savepoint=False):
        left = ORDER_STATUS.advance(pk=order_id, to=to, from_=from_, **fields)
        if left is None:
            return False
        OrderEvent.objects.create(
            order_id=order_id, kind="transition", from_status=left, to_status=to, note=note[:1000]
        )
        return True


def order_transitions(*, order_id: Any, from_: str, path: Sequence[tuple[str, str]]) -> bool:
    """Move the order from ``from_`` through each ``(state, note)`` of ``path`` at once: one conditional
    UPDATE to the last state and one INSERT of an event per step. For moves one transaction makes
    together (an order paid and its brew command claimed, the webhook's hot path, PERF-4); each step
    must be in the table. False if the order was not in ``from_`` (someone else won)."""
    states = [str(from_), *(str(to) for to, _ in path)]
    for left, to in pairwise(states):
        if not ORDER_STATUS.can(left, to):
            raise TransitionNotAllowed(f"Order.status: {left} -> {to} is not in the table")
    with transaction.atomic(savepoint=False):
        if not Order.objects.filter(pk=order_id, status=from_).update(status=states[-1], updated_at=timezone.now()):
            return False
        OrderEvent.objects.bulk_create(
            OrderEvent(order_id=order_id, kind="transition", from_status=left, to_status=to, note=note[:1000])
            for left, (to, note) in zip(states, path, strict=False)  # states has one more: the start
        )
        return True


def order_event(*, order_id: Any, kind: str, note: str) -> None:
    OrderEvent.objects.create(order_id=order_id, kind=kind, note=note[:1000])
