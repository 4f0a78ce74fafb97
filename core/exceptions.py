"""Typed errors shared by every integration (SPEC PLAT-7)."""

from __future__ import annotations

from typing import Any


class IntegrationError(Exception):
    """A call to an external service failed.

    ``permanent`` says whether trying again can help: a 4xx (bad request, bad credentials) is
    permanent; a timeout, a 429 or a 5xx is not. Only non-permanent errors are retried.
    """

    def __init__(
        self,
        message: str,
        *,
        service: str = "",
        permanent: bool = False,
        status_code: int | None = None,
        retry_after: float | None = None,
        code: str = "",
    ) -> None:
        super().__init__(message)
        self.service = service
        self.permanent = permanent
        self.status_code = status_code
        self.retry_after = retry_after
        self.code = code

    def __str__(self) -> str:
        prefix = f"[{self.service}] " if self.service else ""
        status = f" (HTTP {self.status_code})" if self.status_code else ""
        return f"{prefix}{self.args[0]}{status}"


class TransientError(IntegrationError):
    """Worth retrying later (Celery tasks use it in autoretry_for)."""


class RateLimitTimeout(TransientError):
    """The shared rate limiter did not grant a slot within the allowed wait."""


class LanePaused(RateLimitTimeout):
    """The pacer's lane is paused (e.g. an IP resting after a 403): no slot was taken."""

    def __init__(self, message: str, *, seconds: float, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.seconds = seconds
