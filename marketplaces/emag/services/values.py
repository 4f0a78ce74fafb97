"""Reading eMAG's loosely typed JSON values (orders, offers, bulk saves): the value a field holds, or
None / "" when it holds nothing usable, never an exception."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any


def decimal_or_none(value: Any) -> Decimal | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        number = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def int_or_none(value: Any) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def text_cut(value: Any, limit: int) -> str:
    return "" if value is None else str(value)[:limit]
