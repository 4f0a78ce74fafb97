"""The order state machine (SPEC PAY-2): an explicit table and compare-and-set transitions."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import transaction
from django.utils import timezone

from payments.models import Order, OrderEvent, OrderStatus

S = OrderStatus

TRANSITIONS: dict[str, frozenset[str]] = {
    S.CREATED: frozenset({S.PENDING, S.NOT_PAID}),
    S.PENDING: frozenset({S.PAID, S.NOT_PAID}),
    S.PAID: frozenset({S.MAKE_PENDING, S.FAILED}),
    S.MAKE_PENDING: frozenset({S.SUCCESSFUL, S.FAILED}),
    S.NOT_PAID: frozenset(),
    S.SUCCESSFUL: frozenset(),
    S.FAILED: frozenset(),
}
TERMINAL = frozenset(s for s, targets in TRANSITIONS.items() if not targets)


class TransitionNotAllowed(ValueError):
    pass


def can_transition(from_status: str, to_status: str) -> bool:
    return to_status in TRANSITIONS.get(from_status, frozenset())


def order_transition(
    *, order_id: Any, to: str, from_: str | Iterable[str] | None = None, note: str = "", **fields: object
) -> bool:
    """Move the order to ``to`` if it is in one of the allowed source states; False if someone else won.

    A conditional UPDATE: of two concurrent callers exactly one sees 1 row.
    """
    sources = [s for s in TRANSITIONS if to in TRANSITIONS[s]]
    if from_ is not None:
        wanted = {from_} if isinstance(from_, str) else set(from_)
        bad = [s for s in wanted if not can_transition(s, to)]
        if bad:
            raise TransitionNotAllowed(f"{bad} -> {to} is not in the transition table")
        sources = [s for s in sources if s in wanted]
    # No savepoint: callers are usually inside their own transaction, and this is one UPDATE + INSERT.
    with transaction.atomic(savepoint=False):
        if len(sources) == 1:
            current = sources[0]  # the conditional UPDATE alone decides; no read needed
        else:
            found = Order.objects.filter(pk=order_id).values_list("status", flat=True).first()
            if found is None or found not in sources:
                return False
            current = found
        updated = Order.objects.filter(pk=order_id, status=current).update(status=to, updated_at=timezone.now(),
                                                                          **fields)
        if updated:
            OrderEvent.objects.create(order_id=order_id, kind="transition", from_status=current, to_status=to,
                                      note=note[:1000])
        return bool(updated)


def order_event(*, order_id: Any, kind: str, note: str) -> None:
    OrderEvent.objects.create(order_id=order_id, kind=kind, note=note[:1000])
