"""Parsing JSON from the outside world without a 500 (SPEC REL-3).

``json.loads`` recurses once per nesting level: ``[[[[…]]]]`` 100,000 deep raises ``RecursionError``,
which is not a ``ValueError`` and so escapes every ``except ValueError`` around it as a 500. Every
JSON body the site parses goes through :func:`loads` (webhooks of every app) or :class:`JSONParser`
(the DRF default parser): too deep, malformed or undecodable input is a ``ValueError`` subclass,
which the callers answer with a 400 in the JSON error shape. Bodies larger than
``DATA_UPLOAD_MAX_MEMORY_SIZE`` never reach the parser: ``request.body`` refuses them (400).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from django.utils.translation import gettext
from rest_framework import exceptions, parsers
from rest_framework.utils.json import strict_constant

# No provider or owner payload comes near this; it stays far below Python's recursion limit, so
# code that walks the parsed value recursively (serializers, _has_nul...) is safe too.
MAX_DEPTH = 64


class JSONInputError(ValueError):
    """The body is not acceptable JSON (malformed, not UTF-8, or nested deeper than MAX_DEPTH)."""


def _depth_ok(value: Any, limit: int) -> bool:
    """Iterative: no recursion, however the value is shaped."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return False
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return True


def loads(data: str | bytes | bytearray, *, max_depth: int = MAX_DEPTH, **kwargs: Any) -> Any:
    """``json.loads`` that raises only :class:`JSONInputError` (a ``ValueError``) on bad input."""
    try:
        value = json.loads(data, **kwargs)
    except RecursionError:
        raise JSONInputError(f"JSON nested deeper than {max_depth} levels") from None
    except UnicodeDecodeError as exc:
        raise JSONInputError(f"JSON body is not valid UTF-8: {exc.reason}") from None
    except ValueError as exc:
        raise JSONInputError(f"JSON parse error: {exc}") from None
    if not _depth_ok(value, max_depth):
        raise JSONInputError(f"JSON nested deeper than {max_depth} levels")
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser through :func:`loads` (400, never a RecursionError).

    DRF hands JSON parsers ``request.body``, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE has already
    refused an over-limit body (RequestDataTooBig → the JSON 400 of core.api.errors.handler400).
    """

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Mapping[str, Any] | None = None) -> Any:
        parser_context = parser_context or {}
        body = stream.read()
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            return loads(body.decode(encoding), parse_constant=strict_constant if self.strict else None)
        except (UnicodeDecodeError, JSONInputError) as exc:
            raise exceptions.ParseError(gettext("JSON parse error - %(detail)s") % {"detail": exc}) from None
