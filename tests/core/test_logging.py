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
