"""PAY-2: the transition table, exhaustively, and the compare-and-set that enforces it."""

from __future__ import annotations

import itertools

import pytest

from payments.models import Order, OrderEvent, OrderStatus
from payments.services.transitions import TERMINAL, TRANSITIONS, TransitionNotAllowed, can_transition, order_transition
from tests.factories import OrderFactory

ALLOWED = {
    ("created", "pending"),
    ("created", "not_paid"),
    ("pending", "paid"),
    ("pending", "not_paid"),
    ("paid", "make_pending"),
    ("paid", "failed"),
    ("make_pending", "successful"),
    ("make_pending", "failed"),
}
ALL = [s.value for s in OrderStatus]


def test_exactly_the_seven_statuses() -> None:
    assert ALL == ["created", "pending", "paid", "not_paid", "make_pending", "successful", "failed"]
    assert set(TRANSITIONS) == set(ALL)
    assert {"not_paid", "successful", "failed"} == TERMINAL


@pytest.mark.parametrize(("src", "dst"), list(itertools.product(ALL, ALL)))
def test_table(src: str, dst: str) -> None:
    assert can_transition(src, dst) is ((src, dst) in ALLOWED)


def _order(shop, status: str) -> Order:
    return OrderFactory(device=shop.device, drink=shop.drink, amount=100, status=status)


@pytest.mark.django_db
@pytest.mark.parametrize(("src", "dst"), list(itertools.product(ALL, ALL)))
def test_every_transition_in_the_database(shop, src: str, dst: str) -> None:
    order = _order(shop, src)
    moved = order_transition(order_id=order.pk, to=dst, note="t")
    order.refresh_from_db()
    if (src, dst) in ALLOWED:
        assert moved and order.status == dst
        assert OrderEvent.objects.filter(order=order, from_status=src, to_status=dst).count() == 1
    else:
        assert not moved and order.status == src
        assert not OrderEvent.objects.filter(order=order).exists()


@pytest.mark.django_db
def test_forbidden_source_is_rejected_loudly(shop) -> None:
    order = _order(shop, "created")
    with pytest.raises(TransitionNotAllowed):
        order_transition(order_id=order.pk, to="successful", from_="created")


@pytest.mark.django_db
def test_second_caller_loses(shop) -> None:
    order = _order(shop, "pending")
    assert order_transition(order_id=order.pk, to="paid", from_="pending")
    assert not order_transition(order_id=order.pk, to="paid", from_="pending")
    assert not order_transition(order_id=order.pk, to="not_paid", from_="pending")
    order.refresh_from_db()
    assert order.status == "paid"


# --- brew commands: the same kind of table (payments.services.transitions.BREW_STATUS) -----------------


@pytest.mark.django_db
def test_brew_command_moves_follow_its_table(django_assert_num_queries) -> None:
    from payments.models import BrewCommand
    from payments.services.brew import _mark_published
    from payments.services.transitions import BREW_STATUS
    from tests.factories import BrewCommandFactory

    B = BrewCommand.Status
    assert BREW_STATUS.terminal == {B.DONE, B.FAILED}
    assert not BREW_STATUS.can(B.SENT, B.SENDING)  # a sent command is never claimed again
    command = BrewCommandFactory(status=B.SENDING)
    with django_assert_num_queries(1):  # the hot path stays one UPDATE
        _mark_published(command.pk)
    command.refresh_from_db()
    assert command.status == B.SENT and command.published_at is not None
    assert not BREW_STATUS.move(pk=command.pk, to=B.SENDING, from_=[B.QUEUED, B.SENDING])
    assert BREW_STATUS.move(pk=command.pk, to=B.DONE)
    _mark_published(command.pk)  # a late publish mark after the acknowledgement leaves the state alone
    command.refresh_from_db()
    assert command.status == B.DONE
    assert not BREW_STATUS.move(pk=command.pk, to=B.FAILED)
