"""The repricing decision (SPEC REP-2): a pure function of the rule, our price and the offers.

No I/O, no clock, no database: everything it needs arrives in its arguments, so it is tested
exhaustively (tests/repricer/test_decision.py, with hypothesis properties).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

KASPI_MIN_PRICE = 10  # Kaspi refuses prices below 10 tenge


class Reason(StrEnum):
    UNDERCUT = "undercut"  # below the cheapest (or n-th) competitor by the step
    MATCH = "match"  # equal to the cheapest competitor
    NO_COMPETITOR = "no_competitor"  # nobody else sells it: the ceiling
    CEILING = "ceiling"  # the target was above the max price
    FLOOR = "floor"  # the target was below the floor: moved to it, or held when already there
    MAX_CHANGE = "max_change"  # the move is larger than the allowed percentage: held
    UNCHANGED = "unchanged"  # the price is already right: nothing to write
    NO_PRICE = "no_price"  # our own price is unknown: nothing is compared against it


class Action(StrEnum):
    CHANGE = "change"
    HOLD = "hold"
    UNCHANGED = "unchanged"


@dataclass(frozen=True)
class DecisionRule:
    """What the decision needs of a ``RepricingRule`` (plus the store's own Kaspi merchant id)."""

    min_price: int
    max_price: int
    step: int = 1
    strategy: str = "undercut"
    top_n: int = 1
    ignored_merchant_ids: frozenset[str] = field(default_factory=frozenset)
    max_delivery_days: int | None = None
    max_change_percent: Decimal | None = None

    @property
    def floor(self) -> int:
        return max(self.min_price, KASPI_MIN_PRICE)

    @property
    def ceiling(self) -> int:
        return max(self.max_price, self.floor)


class OfferLike(Protocol):
    """What the decision reads of an offer (``marketplaces.kaspi.clients.offers.CompetitorOffer`` has it)."""

    @property
    def merchant_id(self) -> str: ...
    @property
    def price(self) -> int: ...
    @property
    def delivery_duration(self) -> str: ...


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: Reason
    old_price: int | None
    new_price: int | None  # the price to write (CHANGE), else None
    target: int | None  # what the strategy asked for after floor/ceiling
    competitor_best: int | None  # the cheapest competitor considered
    competitors: int  # how many competitor offers were considered

    @property
    def writes(self) -> bool:
        return self.action == Action.CHANGE


_WORDS = {
    "TODAY": 0, "ZERO": 0, "TOMORROW": 1, "ONE": 1, "TWO": 2, "THREE": 3, "FOUR": 4, "FIVE": 5,
    "SIX": 6, "SEVEN": 7, "EIGHT": 8, "NINE": 9, "TEN": 10,
}  # fmt: skip
_DIGITS = re.compile(r"(\d+)")


def delivery_days(duration: str) -> int | None:
    """Kaspi's ``deliveryDuration`` (``TODAY``, ``TOMORROW``, ``TWO_DAYS``, ``5_DAYS``…) in days; None if unknown."""
    text = (duration or "").strip().upper()
    if not text:
        return None
    if text in _WORDS:
        return _WORDS[text]
    head = text.split("_", 1)[0]
    if head in _WORDS:
        return _WORDS[head]
    match = _DIGITS.search(text)
    return int(match.group(1)) if match else None


def competitor_prices(*, rule: DecisionRule, offers: Iterable[OfferLike]) -> list[int]:
    """Prices of the offers that count: not ours, not linked shops', not slower than the delivery filter."""
    prices = []
    for offer in offers:
        if str(offer.merchant_id) in rule.ignored_merchant_ids:
            continue
        if rule.max_delivery_days is not None:
            days = delivery_days(offer.delivery_duration)
            # An unknown delivery time is kept: ignoring a real competitor is the costlier mistake.
            if days is not None and days > rule.max_delivery_days:
                continue
        if offer.price > 0:
            prices.append(int(offer.price))
    return sorted(prices)


def _strategy_target(rule: DecisionRule, prices: Sequence[int]) -> tuple[int, Reason]:
    if rule.strategy == "match":
        return prices[0], Reason.MATCH
    if rule.strategy == "top_n":
        distinct = sorted(set(prices))
        return distinct[min(max(rule.top_n, 1), len(distinct)) - 1] - rule.step, Reason.UNDERCUT
    return prices[0] - rule.step, Reason.UNDERCUT


def price_decide(*, rule: DecisionRule, own_price: int | None, offers: Iterable[OfferLike]) -> Decision:
    """The price our offer should have, or why it stays.

    Our own and linked offers are never competitors, so "already cheapest" needs no special case:
    the target is computed from the cheapest *other* offer, which pulls our price up to just under
    it when competitors raise theirs.
    """
    prices = competitor_prices(rule=rule, offers=offers)
    best = prices[0] if prices else None
    if prices:
        target, reason = _strategy_target(rule, prices)
    else:
        target, reason = rule.ceiling, Reason.NO_COMPETITOR

    def result(action: Action, why: Reason, new: int | None = None, aim: int | None = None) -> Decision:
        return Decision(action, why, own_price, new, aim, best, len(prices))

    if target > rule.ceiling:
        target, reason = rule.ceiling, Reason.CEILING
    if target < rule.floor:
        target, reason = rule.floor, Reason.FLOOR
        if own_price == rule.floor:
            return result(Action.HOLD, Reason.FLOOR, aim=target)
    if own_price is None:
        # Our price is unknown (never synced): the target is within the bounds, so it is written,
        # unless a largest-change limit exists, which cannot be judged without a current price.
        if rule.max_change_percent is not None:
            return result(Action.HOLD, Reason.NO_PRICE, aim=target)
        return result(Action.CHANGE, reason, new=target, aim=target)
    if target == own_price:
        return result(Action.UNCHANGED, Reason.UNCHANGED, aim=target)
    # Held, not clamped: a jump this large is more likely bad data than a real market move.
    limit = rule.max_change_percent
    if limit is not None and own_price > 0 and Decimal(abs(target - own_price)) * 100 > Decimal(limit) * own_price:
        return result(Action.HOLD, Reason.MAX_CHANGE, aim=target)
    return result(Action.CHANGE, reason, new=target, aim=target)
