# ruff: noqa: E501  (the decision table reads best one case per line)
"""SPEC REP-2: one table row per rule of the decision, plus hypothesis properties."""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from repricer.decision import Action, DecisionRule, Reason, delivery_days, price_decide

OWN = "OWN1"
LINKED = "LINK2"


@dataclass(frozen=True)
class Of:
    merchant_id: str
    price: int
    delivery_duration: str = "TOMORROW"


BASE = DecisionRule(min_price=1000, max_price=5000, step=1, ignored_merchant_ids=frozenset({OWN, LINKED}))


def decide(own: int | None, offers: list[Of], **rule: object) -> tuple[Action, Reason, int | None]:
    d = price_decide(rule=replace(BASE, **rule), own_price=own, offers=offers)  # type: ignore[arg-type]
    return d.action, d.reason, d.new_price


CASES = [
    # id, own price, offers, rule overrides, expected (action, reason, new price)
    ("undercut cheapest by step", 3000, [Of("A", 2500), Of("B", 2700)], {}, (Action.CHANGE, Reason.UNDERCUT, 2499)),
    ("step of 10", 3000, [Of("A", 2500)], {"step": 10}, (Action.CHANGE, Reason.UNDERCUT, 2490)),
    ("match equals cheapest", 3000, [Of("A", 2500), Of("B", 2700)], {"strategy": "match"}, (Action.CHANGE, Reason.MATCH, 2500)),
    ("top_n second distinct price", 3000, [Of("A", 2500), Of("B", 2500), Of("C", 2700)], {"strategy": "top_n", "top_n": 2}, (Action.CHANGE, Reason.UNDERCUT, 2699)),
    ("top_n beyond the list takes the last", 3000, [Of("A", 2500), Of("C", 2700)], {"strategy": "top_n", "top_n": 9}, (Action.CHANGE, Reason.UNDERCUT, 2699)),
    ("no competitor raises to max", 3000, [], {}, (Action.CHANGE, Reason.NO_COMPETITOR, 5000)),
    ("only own and linked offers count as none", 3000, [Of(OWN, 2000), Of(LINKED, 1500)], {}, (Action.CHANGE, Reason.NO_COMPETITOR, 5000)),
    ("own cheaper offer is not undercut", 2600, [Of(OWN, 2600), Of("A", 2800)], {}, (Action.CHANGE, Reason.UNDERCUT, 2799)),
    ("already cheapest closes the gap upward", 2000, [Of("A", 2600), Of("B", 2900)], {}, (Action.CHANGE, Reason.UNDERCUT, 2599)),
    ("target above max is the max", 3000, [Of("A", 9000)], {}, (Action.CHANGE, Reason.CEILING, 5000)),
    ("target below floor moves to floor", 3000, [Of("A", 500)], {}, (Action.CHANGE, Reason.FLOOR, 1000)),
    ("at the floor already holds", 1000, [Of("A", 500)], {}, (Action.HOLD, Reason.FLOOR, None)),
    ("floor is at least 10 tenge", 50, [Of("A", 5)], {"min_price": 1}, (Action.CHANGE, Reason.FLOOR, 10)),
    ("at the 10 tenge floor holds", 10, [Of("A", 5)], {"min_price": 0}, (Action.HOLD, Reason.FLOOR, None)),
    ("change over the percentage holds", 3000, [Of("A", 2000)], {"max_change_percent": Decimal("10")}, (Action.HOLD, Reason.MAX_CHANGE, None)),
    ("change within the percentage goes", 3000, [Of("A", 2800)], {"max_change_percent": Decimal("10")}, (Action.CHANGE, Reason.UNDERCUT, 2799)),
    ("exactly the percentage goes", 1000 * 3, [Of("A", 2701)], {"max_change_percent": Decimal("10")}, (Action.CHANGE, Reason.UNDERCUT, 2700)),
    ("unchanged price writes nothing", 2499, [Of("A", 2500)], {}, (Action.UNCHANGED, Reason.UNCHANGED, None)),
    ("slow competitor ignored by delivery filter", 3000, [Of("A", 2000, "FIVE_DAYS"), Of("B", 2600, "TODAY")], {"max_delivery_days": 2}, (Action.CHANGE, Reason.UNDERCUT, 2599)),
    ("unknown delivery time is kept", 3000, [Of("A", 2000, "")], {"max_delivery_days": 2}, (Action.CHANGE, Reason.UNDERCUT, 1999)),
    ("unknown own price is written within bounds", None, [Of("A", 2500)], {}, (Action.CHANGE, Reason.UNDERCUT, 2499)),
    ("unknown own price holds under a change limit", None, [Of("A", 2500)], {"max_change_percent": Decimal("5")}, (Action.HOLD, Reason.NO_PRICE, None)),
]  # fmt: skip


@pytest.mark.parametrize(("own", "offers", "rule", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decision_table(
    own: int | None, offers: list[Of], rule: dict[str, object], expected: tuple[object, ...]
) -> None:
    assert decide(own, offers, **rule) == expected


def test_delivery_durations_parse() -> None:
    assert [delivery_days(d) for d in ("TODAY", "TOMORROW", "TWO_DAYS", "5_DAYS", "", "SOON")] == [
        0,
        1,
        2,
        5,
        None,
        None,
    ]


prices = st.integers(min_value=1, max_value=1_000_000)
merchants = st.sampled_from(["A", "B", "C", "D", OWN, LINKED])
offers_st = st.lists(
    st.builds(Of, merchants, prices, st.sampled_from(["TODAY", "TOMORROW", "TWO_DAYS", "FIVE_DAYS", ""])), max_size=12
)


@st.composite
def rules(draw: st.DrawFn) -> DecisionRule:
    low = draw(st.integers(min_value=0, max_value=500_000))
    high = draw(st.integers(min_value=low, max_value=1_000_000))
    return DecisionRule(
        min_price=low,
        max_price=high,
        step=draw(st.integers(min_value=1, max_value=500)),
        strategy=draw(st.sampled_from(["undercut", "top_n", "match"])),
        top_n=draw(st.integers(min_value=1, max_value=6)),
        ignored_merchant_ids=frozenset({OWN, LINKED}),
        max_delivery_days=draw(st.none() | st.integers(min_value=0, max_value=5)),
        max_change_percent=draw(st.none() | st.decimals(min_value=1, max_value=100, places=2)),
    )


@given(rule=rules(), own=st.none() | prices, offers=offers_st)
def test_never_below_floor_nor_above_ceiling(rule: DecisionRule, own: int | None, offers: list[Of]) -> None:
    d = price_decide(rule=rule, own_price=own, offers=offers)
    if d.new_price is not None:
        assert max(rule.min_price, 10) <= d.new_price <= max(rule.max_price, 10)
        assert d.new_price != own


@given(
    rule=rules(),
    own=st.none() | prices,
    offers=offers_st,
    extra=st.lists(st.builds(Of, st.sampled_from([OWN, LINKED]), prices), max_size=5),
)
def test_never_reacts_to_own_or_linked_offers(
    rule: DecisionRule, own: int | None, offers: list[Of], extra: list[Of]
) -> None:
    assert price_decide(rule=rule, own_price=own, offers=offers) == price_decide(
        rule=rule, own_price=own, offers=offers + extra
    )


@given(rule=rules(), own=st.none() | prices, offers=offers_st)
def test_applying_a_decision_then_deciding_again_writes_nothing(
    rule: DecisionRule, own: int | None, offers: list[Of]
) -> None:
    first = price_decide(rule=rule, own_price=own, offers=offers)
    if first.new_price is None:
        return
    again = price_decide(rule=rule, own_price=first.new_price, offers=offers)
    assert again.action != Action.CHANGE
    assert again.new_price is None


@given(rule=rules(), own=prices, offers=offers_st)
def test_unchanged_inputs_give_the_same_decision(rule: DecisionRule, own: int, offers: list[Of]) -> None:
    assert price_decide(rule=rule, own_price=own, offers=offers) == price_decide(
        rule=rule, own_price=own, offers=list(offers)
    )
