"""Log hygiene: secrets never reach the log output (SPEC PLAT-5)."""

from __future__ import annotations

import logging
import re

# key=value or "key": "value" pairs whose value is a secret.
_SECRET_KEYS = r"(?:token|password|passwd|secret|secret_key|api_key|apikey|authorization|cookie|access_token)"
_PATTERNS = [
    re.compile(rf"({_SECRET_KEYS}=)[^&\s'\"]+", re.IGNORECASE),
    re.compile(rf"(['\"]{_SECRET_KEYS}['\"]\s*:\s*['\"])[^'\"]*", re.IGNORECASE),
    re.compile(r"(Basic |Bearer )[A-Za-z0-9._~+/=-]+"),
    re.compile(r"(://[^:/@\s]+:)[^@\s]+(@)"),
]


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(r"\1***\2" if pattern.groups >= 2 else r"\1***", text)
    return text


class RedactSecretsFilter(logging.Filter):
    """Rewrites the formatted message of every record with secret values masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not lose the record
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


UNTRUSTED_LIMIT = 64


def untrusted(value: object, limit: int = UNTRUSTED_LIMIT) -> str:
    """A value from outside (a device id, a webhook field, a provider's error text) made safe for a
    log line: its ``repr`` — newlines, NUL and every other control character escaped, so it can
    neither forge a second line nor break the log reader — cut to ``limit`` characters, with how
    much was cut. Use it as ``log.warning("ack %s from %s", untrusted(command_id), untrusted(device))``;
    it is the ``%.64r`` rule with the cut made visible."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}…(+{len(text) - limit} chars)"
