"""Typed errors of the Kaspi clients (all are ``IntegrationError``s, so callers can treat them alike)."""

from __future__ import annotations

from core.exceptions import IntegrationError, TransientError


class KaspiError(IntegrationError):
    """Kaspi answered something we cannot use (a 4xx other than the ones below, a changed body)."""


class SessionExpired(KaspiError):
    """The cabinet refused the cookies (401/403): log in again, then repeat the call once."""


class KaspiRateLimited(TransientError):
    """429: Kaspi bans the merchant for a while; never retried into, the next scheduled run resumes."""


class LoginFailed(KaspiError):
    """The browser login ended somewhere only a person can fix (``reason``); ``screenshot`` is a PNG."""

    def __init__(self, reason: str, *, screenshot: bytes = b"") -> None:
        super().__init__(reason, service="kaspi-login", permanent=True)
        self.reason = reason
        self.screenshot = screenshot


class LoginUnavailable(TransientError):
    """The login page could not be reached (timeout, connection refused, 5xx): worth trying later."""

    def __init__(self, reason: str, *, screenshot: bytes = b"") -> None:
        super().__init__(reason, service="kaspi-login")
        self.reason = reason
        self.screenshot = screenshot
