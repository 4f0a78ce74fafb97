"""eMAG Marketplace API v4.x client (API_CONTRACTS.md "eMAG"; SPEC MKT-2, MKT-4).

Every call is ``POST {base}/{resource}/{action}`` with HTTP Basic auth and a JSON body, and answers
the envelope ``{"isError": false, "messages": [], "results": ...}``: anything without
``isError: false`` is a failure, whatever the HTTP status. Calls go through the process's one pooled
``core.http.HttpClient`` for eMAG (``http_client``; the account's credentials and pacers ride on each
request: retries with 2, 4 … 64 s backoff and jitter on 429/5xx/network only) and, before every attempt,
through one of two pacers shared through Redis by every process of every machine: order routes
(12 req/s) and all other routes together (3 req/s), each paced evenly at ``EMAG_PACE_FRACTION`` of
the limit. eMAG counts requests per clock second, so a moving window (the whole allowance at once)
plus a few milliseconds of jitter on the way puts 13 into one of eMAG's seconds; spaced grants leave
that jitter room. ``X-RateLimit-Remaining-3second: 0`` pauses that route class for everyone until
eMAG's window has room again.

Orders are returned as eMAG's own dicts: ``order/save`` wants the whole order as read, with changes.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import requests
from django.conf import settings

from core.exceptions import IntegrationError, LanePaused, RateLimitTimeout, TransientError
from core.http import RetryPolicy, http_client
from core.ratelimit import Pacer
from core.redis_client import shared_redis

log = logging.getLogger(__name__)

SERVICE = "emag"
ORDERS, OTHER = "orders", "other"
MAX_PAGE_SIZE = 100
MAX_SAVE_BATCH = 50
MAX_FILTER_SPAN = timedelta(days=28)  # "span ≤ 1 month": 28 days is within every month
DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
# 4xx answers (other than 408/429) come back to us so their envelope's messages reach the caller.
_ANSWERED = frozenset(range(200, 500)) - {408, 429}
# ``isError`` messages that say eMAG failed, not the request: worth the same request again. An error
# with no message at all says nothing about the request either. Everything else (a field, a value,
# a missing entity) is the request's fault and is not repeated.
_TRANSIENT_MESSAGE = re.compile(
    r"internal (server )?error|please (retry|try again)|try again later|temporar|timed? ?out|"
    r"service unavailable|unavailable at the moment|overloaded|maintenance",
    re.IGNORECASE,
)

Recorder = Callable[[str, str, float], None]  # (route kind, outcome, elapsed ms)


# --- typed errors ----------------------------------------------------------------------------------
class EmagError(IntegrationError):
    """Any eMAG failure; ``messages`` are eMAG's own texts (never credentials)."""

    kind = "error"

    def __init__(self, message: str, *, messages: list[str] | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("service", SERVICE)
        super().__init__(message, **kwargs)
        self.messages = messages or []


class EmagAuthError(EmagError):
    kind = "auth"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, permanent=True, **kwargs)


class EmagValidationError(EmagError):
    """eMAG refused the request's content (or our validation refused it before sending)."""

    kind = "validation"

    def __init__(self, message: str, *, fields: dict[str, list[str]] | None = None, **kwargs: Any) -> None:
        super().__init__(message, permanent=True, **kwargs)
        self.fields = fields or {}


class EmagNotFoundError(EmagError):
    kind = "not_found"

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, permanent=True, **kwargs)


class EmagRateLimitError(TransientError, EmagError):
    kind = "rate_limit"


class EmagServerError(TransientError, EmagError):
    kind = "server"


class EmagBadAnswer(EmagServerError):
    """A 2xx that is not a usable answer: an HTML page (a proxy's, a gateway's) instead of the envelope,
    or ``isError: true`` saying only that eMAG failed ("Internal error, please retry"). Transient:
    retried like a 5xx, within the limits; a validation error (``isError`` naming what is wrong) is not."""


class EmagNetworkError(TransientError, EmagError):
    kind = "network"


class EmagTimeoutError(EmagNetworkError):
    kind = "timeout"


# --- helpers ---------------------------------------------------------------------------------------
def emag_datetime(value: datetime) -> str:
    """eMAG's filter format, in the platform's local time."""
    return value.astimezone(ZoneInfo(settings.EMAG_TIME_ZONE)).strftime(DATE_FORMAT)


def parse_emag_datetime(value: Any) -> datetime | None:
    if not value or not isinstance(value, str):
        return None
    try:
        naive = datetime.strptime(value[:19], DATE_FORMAT)
    except ValueError:
        return None
    return naive.replace(tzinfo=ZoneInfo(settings.EMAG_TIME_ZONE))


def date_windows(start: datetime, end: datetime) -> Iterator[tuple[datetime, datetime]]:
    """[start, end] cut into windows eMAG accepts (span ≤ 1 month)."""
    while start < end:
        stop = min(end, start + MAX_FILTER_SPAN)
        yield start, stop
        start = stop


def limit_per_second(kind: str) -> float:
    """eMAG's own limit for a route class (the pacers run a little under it)."""
    return settings.EMAG_ORDER_RATE_PER_SECOND if kind == ORDERS else settings.EMAG_OTHER_RATE_PER_SECOND


def limiters(ref: str) -> dict[str, Pacer]:
    """The two pacers of one eMAG account (``ref``), shared through Redis, counting grants per second."""
    # eMAG counts per clock second. Paced at fraction f of the limit, a second holds the limit's own slots
    # only when the previous slot lies more than (1/f - 1) s before it: a request sent later than that
    # after its slot could make one too many, whatever the lane's rate (3/s: a quarter spacing is 86 ms,
    # the room 31 ms). So a request must leave within that room, with a tenth to spare.
    room = 0.9 * (1.0 / settings.EMAG_PACE_FRACTION - 1.0)
    return {
        kind: Pacer(
            f"emag:{ref}:{kind}",
            limit_per_second(kind) * settings.EMAG_PACE_FRACTION,
            counted=True,
            late_after=room,
        )
        for kind in (ORDERS, OTHER)
    }


def route_kind(path: str) -> str:
    return ORDERS if path.strip("/").split("/", 1)[0] == "order" else OTHER


class EmagClient:
    def __init__(
        self,
        *,
        base_url: str,
        username: str,
        password: str,
        limiter_ref: str,
        recorder: Recorder | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._auth = (str(username), str(password))
        self.limiter_ref = limiter_ref
        self.limiters = limiters(limiter_ref)
        self.recorder = recorder
        base = settings.EMAG_BACKOFF_BASE_SECONDS
        self.retry = RetryPolicy(max_retries=settings.EMAG_MAX_RETRIES, backoff_base=base, backoff_max=base * 32)
        self.sleep = sleep
        # One pooled client for every account and route class; each route class paces its own requests.
        self.http = http_client(SERVICE, base_url)
        self._gates = {kind: self._gate(kind) for kind in (ORDERS, OTHER)}

    # --- limits ------------------------------------------------------------------------------------
    def _pause_key(self, kind: str) -> str:
        return f"merchant-ops:emag:{self.limiter_ref}:{kind}:pause"

    def _gate(self, kind: str) -> Callable[[], None]:
        pacer, pause_key = self.limiters[kind], self._pause_key(kind)

        def before_request() -> None:
            while True:
                try:
                    pacer.acquire(timeout=120, paused_by=pause_key)
                    break
                except LanePaused as paused:  # eMAG said its window is full: wait it out, then queue
                    time.sleep(paused.seconds)
            if self.recorder is not None:
                self.recorder(kind, "attempt", 0.0)

        return before_request

    def _honour_headers(self, kind: str, response: requests.Response) -> None:
        remaining = response.headers.get("X-RateLimit-Remaining-3second")
        if remaining is not None and remaining.strip() == "0":
            # eMAG's window is full (perhaps by another integration on the same account): hold this
            # route class, in every process, for one slot of its rate before the next attempt.
            slot_ms = 1000.0 / limit_per_second(kind)
            shared_redis().set(self._pause_key(kind), "1", px=max(1, int(slot_ms)))

    # --- the envelope ------------------------------------------------------------------------------
    def call(self, path: str, payload: Any = None) -> Any:
        """POST ``path`` (``order/read``…) and return ``results``; raise a typed ``EmagError``."""
        kind = route_kind(path)
        started = time.monotonic()
        outcome = "ok"
        try:
            return self._call_retrying(kind, path, payload)
        except EmagError as exc:
            outcome = exc.kind
            raise
        finally:
            if self.recorder is not None:
                self.recorder(kind, outcome, (time.monotonic() - started) * 1000)

    def _call_retrying(self, kind: str, path: str, payload: Any) -> Any:
        """A bad answer on a 2xx is retried like a 5xx: same backoff, same count, each attempt paced."""
        attempt = 0
        while True:
            try:
                return self._call(kind, path, payload)
            except EmagBadAnswer as exc:
                if attempt >= self.http.retries_allowed(retry=self.retry):
                    raise
                log.warning("%.300s; retrying (attempt %d)", exc, attempt + 1)
                self.sleep(self.retry.delay(attempt))
                attempt += 1

    def _call(self, kind: str, path: str, payload: Any) -> Any:
        try:
            # Every eMAG call is safe to repeat: reads, acknowledge, and saves that carry whole entities.
            response = self.http.request(
                "POST",
                path,
                json=payload if payload is not None else {},
                auth=self._auth,
                idempotent=True,
                ok_statuses=_ANSWERED,
                before_request=self._gates[kind],
                retry=self.retry,
                sleep=self.sleep,
            )
        except TransientError as exc:
            raise _transient(exc, path) from exc
        except IntegrationError as exc:  # a request that could not be sent at all
            raise EmagError(f"{path}: {exc.args[0]}", permanent=True, status_code=exc.status_code) from exc
        self._honour_headers(kind, response)
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        messages = _messages(body)
        text = "; ".join(messages) or f"HTTP {status}"
        if status in (401, 403):
            raise EmagAuthError(
                f"{path}: eMAG refused the credentials or this IP ({text})", status_code=status, messages=messages
            )
        if status == 404:
            raise EmagNotFoundError(f"{path}: not found ({text})", status_code=status, messages=messages)
        if not isinstance(body, dict):
            content_type = response.headers.get("Content-Type", "")[:40]
            raise EmagBadAnswer(
                f"{path}: the answer is not an eMAG envelope (HTTP {status}, {content_type!r})", status_code=status
            )
        if body.get("isError") is not False or status >= 400:
            failed_inside = not messages or all(_TRANSIENT_MESSAGE.search(m) for m in messages)
            if body.get("isError") is True and status < 400 and failed_inside:
                raise EmagBadAnswer(f"{path}: eMAG failed: {text}", status_code=status, messages=messages)
            raise EmagValidationError(f"{path}: {text}", status_code=status, messages=messages)
        return body.get("results")

    # --- orders ------------------------------------------------------------------------------------
    def orders_read(self, *, page: int = 1, per_page: int = MAX_PAGE_SIZE, **filters: Any) -> list[dict[str, Any]]:
        payload = {"currentPage": page, "itemsPerPage": min(per_page, MAX_PAGE_SIZE), **_filters(filters)}
        return list(self.call("order/read", payload) or [])

    def orders_iter(self, *, per_page: int | None = None, **filters: Any) -> Iterator[dict[str, Any]]:
        size = min(per_page or settings.EMAG_PAGE_SIZE, MAX_PAGE_SIZE)
        page = 1
        while True:
            results = self.orders_read(page=page, per_page=size, **filters)
            yield from results
            if len(results) < size:
                return
            page += 1

    def orders_count(self, **filters: Any) -> int:
        results = self.call("order/count", _filters(filters)) or {}
        return int(results.get("noOfItems", 0)) if isinstance(results, dict) else 0

    def order_read(self, emag_id: int) -> dict[str, Any] | None:
        results = self.orders_read(page=1, per_page=1, id=int(emag_id))
        return results[0] if results else None

    def orders_save(self, orders: list[dict[str, Any]]) -> None:
        for start in range(0, len(orders), MAX_SAVE_BATCH):
            self.call("order/save", orders[start : start + MAX_SAVE_BATCH])

    def order_acknowledge(self, emag_id: int) -> None:
        self.call(f"order/acknowledge/{int(emag_id)}")

    # --- offers ------------------------------------------------------------------------------------
    def offers_read(self, *, page: int = 1, per_page: int = MAX_PAGE_SIZE, **filters: Any) -> list[dict[str, Any]]:
        payload = {"currentPage": page, "itemsPerPage": min(per_page, MAX_PAGE_SIZE), **filters}
        return list(self.call("product_offer/read", payload) or [])

    def offers_iter(self, *, per_page: int | None = None) -> Iterator[dict[str, Any]]:
        size = min(per_page or settings.EMAG_PAGE_SIZE, MAX_PAGE_SIZE)
        page = 1
        while True:
            results = self.offers_read(page=page, per_page=size)
            yield from results
            if len(results) < size:
                return
            page += 1

    def offers_save(self, offers: list[dict[str, Any]]) -> None:
        for start in range(0, len(offers), MAX_SAVE_BATCH):
            self.call("offer/save", offers[start : start + MAX_SAVE_BATCH])


def _filters(filters: dict[str, Any]) -> dict[str, Any]:
    return {
        key: emag_datetime(value) if isinstance(value, datetime) else value
        for key, value in filters.items()
        if value is not None
    }


def _messages(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return []
    raw = body.get("messages") or []
    if isinstance(raw, str):
        raw = [raw]
    return [str(m)[:500] for m in raw if m] if isinstance(raw, list) else []


def _transient(exc: TransientError, path: str) -> EmagError:
    status = exc.status_code
    if isinstance(exc, RateLimitTimeout):
        return EmagRateLimitError(f"{path}: no slot from the shared eMAG limiter in time")
    if status == 429:
        return EmagRateLimitError(f"{path}: rate limited by eMAG", status_code=429, retry_after=exc.retry_after)
    if status is not None:
        return EmagServerError(f"{path}: eMAG answered {status}", status_code=status)
    if isinstance(exc.__cause__, requests.Timeout):
        return EmagTimeoutError(f"{path}: eMAG did not answer in time")
    return EmagNetworkError(f"{path}: could not reach eMAG")
