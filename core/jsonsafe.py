"""The one guard for JSON from the outside world (SPEC REL-3): webhooks, MQTT acks, the owner API.

Every JSON body the site parses goes through :func:`loads` (webhooks and acks of every app) or
:class:`JSONParser` (the DRF default parser). What it returns can be walked and stored in jsonb as
it is; anything else is a :class:`JSONInputError` (a ``ValueError``), which the callers answer with
a 4xx in the JSON error shape (or, for an MQTT ack, drop and log):

- malformed JSON, a body that is not UTF-8;
- ``NaN``, ``Infinity``, ``-Infinity`` and numbers that overflow a float: not JSON, and jsonb
  refuses them, so storing one would fail the request late, as a 500;
- a string (key or value) holding a NUL character or a lone UTF-16 surrogate (``"\\ud800"`` is
  valid JSON): PostgreSQL text and jsonb cannot hold either;
- nesting deeper than ``max_depth``: ``json.loads`` recurses once per level, and ``[[[[…]]]]``
  100,000 deep raises ``RecursionError``, which is not a ``ValueError`` and would escape every
  ``except ValueError`` as a 500; providers' payloads are shallow;
- a body larger than ``max_bytes`` (default ``DATA_UPLOAD_MAX_MEMORY_SIZE``; Django's
  ``request.body`` already refuses larger HTTP bodies, this bounds the others, such as MQTT).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext
from rest_framework import exceptions, parsers

# No provider or owner payload comes near this; it stays far below Python's recursion limit, so
# code that walks the parsed value recursively (serializers...) is safe too.
MAX_DEPTH = 64


class JSONInputError(ValueError):
    """The body is not acceptable JSON: malformed, not UTF-8, too large, nested deeper than allowed,
    or holding what jsonb cannot store (NaN/Infinity, NUL, lone surrogates)."""


def _no_constants(name: str) -> Any:
    raise JSONInputError(f"{name} is not JSON")


def _finite(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise JSONInputError(f"number out of range: {text[:20]}")
    return number


def _text_problem(text: str) -> str | None:
    if "\x00" in text:
        return "a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "a lone UTF-16 surrogate"
    return None


def problem(value: Any, *, max_depth: int = MAX_DEPTH) -> str | None:
    """Why ``value`` (already parsed, e.g. a form's fields) cannot be stored as it is, or None.

    Iterative: no recursion, however the value is shaped."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            bad = _text_problem(item)
            if bad:
                return f"a string holds {bad}"
            continue
        if isinstance(item, float) and (item != item or item in (float("inf"), float("-inf"))):
            return "NaN or Infinity is not JSON"
        if isinstance(item, dict):
            if depth >= max_depth:
                return f"JSON nested deeper than {max_depth} levels"
            for key, child in item.items():
                bad = _text_problem(key) if isinstance(key, str) else None
                if bad:
                    return f"a key holds {bad}"
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            if depth >= max_depth:
                return f"JSON nested deeper than {max_depth} levels"
            stack.extend((child, depth + 1) for child in item)
    return None


def loads(data: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, max_bytes: int | None = None) -> Any:
    """Strict ``json.loads`` whose value jsonb can store; raises only :class:`JSONInputError`."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE if max_bytes is None else max_bytes
    if limit is not None and len(data) > limit:
        raise JSONInputError(f"JSON body larger than {limit} bytes")
    try:
        value = json.loads(data, parse_constant=_no_constants, parse_float=_finite)
    except RecursionError:
        raise JSONInputError(f"JSON nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise JSONInputError(f"JSON body is not valid UTF-8: {exc.reason}") from None
    except JSONInputError:
        raise
    except ValueError as exc:
        raise JSONInputError(f"JSON parse error: {exc}") from None
    bad = problem(value, max_depth=max_depth)
    if bad:
        raise JSONInputError(bad)
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through :func:`loads` (400, never a RecursionError or a jsonb error).

    DRF hands JSON parsers ``request.body``, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE has already
    refused an over-limit body (RequestDataTooBig → the JSON 400 of core.api.errors.handler400).
    NaN and Infinity are refused whatever STRICT_JSON says: nothing downstream can store them.
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        parser_context = parser_context or {}
        body = stream.read()
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(body.decode(encoding))
        except (UnicodeDecodeError, JSONInputError) as exc:
            raise exceptions.ParseError(gettext("JSON parse error - %(detail)s") % {"detail": exc}) from None
