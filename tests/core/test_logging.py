from __future__ import annotations

import logging

import pytest

from core.logging import RedactSecretsFilter, redact


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("GET /transactions?token=abc123&PageNumber=2", "abc123"),
        ('payload {"Password": "hunter2", "Amount": 100}', "hunter2"),
        ("Authorization: Bearer eyJhbGciOi.payload.sig", "eyJhbGciOi.payload.sig"),
        ("Authorization: Basic c2hvcDpzZWNyZXQ=", "c2hvcDpzZWNyZXQ="),
        ("broker mqtt://device:s3cr3t@127.0.0.1:1883", "s3cr3t"),
    ],
)
def test_secrets_are_masked(raw: str, secret: str) -> None:
    cleaned = redact(raw)
    assert secret not in cleaned and "***" in cleaned


def test_filter_rewrites_formatted_records() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling %s", ("https://h/p?token=zzz",), None)
    RedactSecretsFilter().filter(record)
    assert "zzz" not in record.getMessage()
    assert "PageNumber=2" in redact("token=a&PageNumber=2")


HOSTILE = [
    "forged\n2026-01-01 00:00:00 INFO payments ack applied",  # a second, forged log line
    "x" * 100_000,  # a 100 kB line
    "nul\x00byte\rcarriage\x1b[31mescape",
]


def _assert_one_short_safe_line(text: str, limit: int = 1000) -> None:
    assert "\n" not in text and "\r" not in text and "\x00" not in text and "\x1b" not in text, text[:200]
    assert len(text) < limit, len(text)


@pytest.mark.parametrize("value", HOSTILE)
def test_untrusted_values_are_escaped_and_cut(value: str) -> None:
    from core.logging import untrusted

    shown = untrusted(value)
    _assert_one_short_safe_line(shown, limit=100)
    assert shown.startswith(repr(value)[:64])  # what fits is shown as written (escaped), not dropped


def test_untrusted_says_how_much_was_cut_and_keeps_short_values_whole() -> None:
    from core.logging import untrusted

    assert untrusted("x" * 100_000).endswith("…(+99938 chars)")
    assert untrusted("abc") == "'abc'"
    assert untrusted(None) == "None"
    assert len(untrusted("e" * 500, 200)) < 220


@pytest.mark.django_db
def test_an_api_error_on_a_hostile_path_is_logged_on_one_short_line(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="core.api")
    response = client.get("/api/v1/sync-runs/%0Aforged%20line" + "x" * 5000 + "%00/")
    assert response.status_code in (401, 403, 404)
    records = [r for r in caplog.records if r.name == "core.api"]
    assert records
    for record in records:
        _assert_one_short_safe_line(record.getMessage())
