"""core.jsonsafe: the one JSON loader for bodies from outside (REL-3)."""

from __future__ import annotations

import pytest

from core import jsonsafe


def test_ordinary_json_is_parsed() -> None:
    assert jsonsafe.loads(b'{"a": [1, {"b": null}], "c": "\\u00e9"}') == {"a": [1, {"b": None}], "c": "é"}


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,  # RecursionError inside json.loads
        b'{"a":' * 100_000 + b"1" + b"}" * 100_000,
        b"[" * (jsonsafe.MAX_DEPTH + 1) + b"]" * (jsonsafe.MAX_DEPTH + 1),  # parses, but deeper than allowed
        b"{not json",
        b"\xff\xfe",
        b"",
    ],
)
def test_bad_input_is_only_ever_a_value_error(body: bytes) -> None:
    with pytest.raises(jsonsafe.JSONInputError) as raised:
        jsonsafe.loads(body)
    assert isinstance(raised.value, ValueError)


def test_nesting_up_to_the_limit_is_accepted() -> None:
    depth = jsonsafe.MAX_DEPTH
    value = jsonsafe.loads("[" * depth + "]" * depth)
    for _ in range(depth - 1):
        value = value[0]
    assert value == []


def test_drf_parser_answers_parse_error() -> None:
    import io

    from rest_framework.exceptions import ParseError

    with pytest.raises(ParseError):
        jsonsafe.JSONParser().parse(io.BytesIO(b"[" * 100_000), "application/json", {})
    with pytest.raises(ParseError):  # NaN is not JSON (DRF's STRICT_JSON)
        jsonsafe.JSONParser().parse(io.BytesIO(b'{"a": NaN}'), "application/json", {})
    assert jsonsafe.JSONParser().parse(io.BytesIO(b'{"a": 1}'), "application/json", {}) == {"a": 1}


def test_every_api_view_parses_json_through_jsonsafe() -> None:
    """A view that pins DRF's own JSONParser (as ObtainAuthToken does) would bring the 500 back."""
    from django.urls import URLPattern, URLResolver, get_resolver
    from rest_framework import parsers

    def views(patterns):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from views(p.url_patterns)
            elif isinstance(p, URLPattern):
                yield p.callback

    checked = 0
    for callback in views(get_resolver().url_patterns):
        cls = getattr(callback, "cls", None)
        if cls is None:
            continue
        classes = list(cls.parser_classes)
        json_parsers = [c for c in classes if issubclass(c, parsers.JSONParser)]
        assert all(issubclass(c, jsonsafe.JSONParser) for c in json_parsers), (cls, classes)
        checked += 1
    assert checked > 3


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"a": NaN}', "NaN"),
        (b'{"a": [Infinity]}', "Infinity"),
        (b'{"a": -Infinity}', "Infinity"),
        (b'{"a": 1e400}', "out of range"),
        (b'{"a": "x\\ud800y"}', "surrogate"),
        (b'{"\\udfff": 1}', "surrogate"),
        (b'{"a": "x\\u0000"}', "NUL"),
        (b'{"a\\u0000": 1}', "NUL"),
    ],
)
def test_what_jsonb_cannot_store_is_refused(body: bytes, reason: str) -> None:
    """PostgreSQL's jsonb refuses NaN/Infinity, NUL and lone surrogates: storing one was a late 500."""
    with pytest.raises(jsonsafe.JSONInputError, match=reason):
        jsonsafe.loads(body)


def test_a_body_over_the_size_limit_is_refused(settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100
    with pytest.raises(jsonsafe.JSONInputError, match="larger"):
        jsonsafe.loads(b'{"a": "' + b"x" * 100 + b'"}')
    assert jsonsafe.loads(b'{"a": "x"}', max_bytes=20) == {"a": "x"}
    with pytest.raises(jsonsafe.JSONInputError, match="larger"):
        jsonsafe.loads(b'{"a": "x"}', max_bytes=5)


def test_a_caller_may_ask_for_a_shallower_limit() -> None:
    assert jsonsafe.loads(b"[[1]]", max_depth=2) == [[1]]
    with pytest.raises(jsonsafe.JSONInputError, match="deeper"):
        jsonsafe.loads(b"[[[1]]]", max_depth=2)


def test_problem_checks_values_parsed_elsewhere() -> None:
    """A form's fields (Poster) go through the same rules as a JSON body."""
    assert jsonsafe.problem({"a": "b", "c": ["d", 1, None]}) is None
    assert "NUL" in (jsonsafe.problem({"a": "b\x00"}) or "")
    assert "surrogate" in (jsonsafe.problem(["\ud800"]) or "")
    assert "NaN" in (jsonsafe.problem({"a": float("nan")}) or "")


def test_drf_parser_refuses_what_jsonb_cannot_store() -> None:
    import io

    from rest_framework.exceptions import ParseError

    for body in (b'{"name": "\\ud800"}', b'{"name": "a\\u0000"}', b'{"a": 1e999}'):
        with pytest.raises(ParseError):
            jsonsafe.JSONParser().parse(io.BytesIO(body), "application/json", {})
