"""Guards for bodies received from outside (webhooks): what PostgreSQL cannot store or should not walk."""

from __future__ import annotations

import json
from typing import Any


def _text_ok(text: str) -> bool:
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate ("\ud800" is valid JSON)
        return False
    return True


def storable_text(value: Any) -> bool:
    """Every string (keys too) can be stored by PostgreSQL: no NUL, no lone UTF-16 surrogates."""
    if isinstance(value, str):
        return _text_ok(value)
    if isinstance(value, dict):
        return all(_text_ok(k) and storable_text(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable_text(v) for v in value)
    return True


def nested_deeper_than(value: Any, limit: int, depth: int = 0) -> bool:
    """Provider payloads are shallow; deep nesting is refused before it reaches jsonb (stack limits)."""
    if depth > limit:
        return True
    if isinstance(value, dict):
        return any(nested_deeper_than(v, limit, depth + 1) for v in value.values())
    if isinstance(value, list):
        return any(nested_deeper_than(v, limit, depth + 1) for v in value)
    return False


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"number out of range: {text[:20]}")
    return number


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def json_loads(body: bytes | str) -> Any:
    """Strict JSON: NaN, Infinity and numbers that overflow a float are errors (PostgreSQL's jsonb
    refuses them, so storing one would fail the request late, as a 500)."""
    return json.loads(body, parse_constant=_no_constants, parse_float=_finite)
