"""The one way to call an external service over HTTP (SPEC PLAT-7).

A ``HttpClient`` per service: a pooled ``requests`` session per thread, a timeout on every call,
retries with exponential backoff and "equal jitter" (a random wait in the upper half of the
doubling ceiling) for calls that are safe to repeat and for 429/5xx answers, ``Retry-After``
honoured, an optional shared rate limiter, and request logging that never includes query values,
headers or bodies. Failures surface as ``IntegrationError`` with ``permanent`` telling callers
whether trying later can help.

One client per service and base URL: :func:`http_client` keeps them in a process-wide registry,
so the pooled keep-alive connections of a service are reused across calls and client objects
(building an ``HttpClient`` per call would open a new connection every time). A shared client holds
nothing of an account: credentials, the account's pacer (``before_request``), its TLS ``verify``,
an outgoing proxy, a retry policy or a test's ``sleep`` ride on each ``request``.

Retries happen in ONE layer:

- in a Celery task that declares ``autoretry_for`` the task is the retry layer: every HTTP call
  inside it is a single attempt (``HttpClient`` retries are 0), and a ``TransientError`` goes back
  to Celery, which retries the whole task with its own backoff. Inner retries multiplied by
  Celery's would otherwise turn 8 task retries into 32 calls and hold a worker through the sleeps;
- everywhere else (web requests, periodic jobs without ``autoretry_for``, management commands)
  ``HttpClient`` retries up to ``HTTP_MAX_RETRIES`` (or the policy's own ``max_retries``);
- a call on a web request path that must answer fast (the payment webhooks) passes
  ``max_retries=0`` and a short ``timeout`` itself.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util.connection import is_connection_dropped

from .exceptions import IntegrationError, TransientError
from .logging import untrusted
from .ratelimit import send_deadline

log = logging.getLogger("core.http")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


# Set while a Celery task with its own retry policy runs (see the module docstring).
_single_attempt: contextvars.ContextVar[bool] = contextvars.ContextVar("http_single_attempt", default=False)


@contextmanager
def single_attempt() -> Iterator[None]:
    """Every ``HttpClient`` call inside is one attempt: an outer layer (Celery) does the retrying."""
    token = _single_attempt.set(True)
    try:
        yield
    finally:
        _single_attempt.reset(token)


def task_retry_options(*, backoff: int, backoff_max: int, max_retries: int) -> dict[str, Any]:
    """``shared_task`` options of a task that is the retry layer of its HTTP calls: a ``TransientError``
    retries the whole task with exponential backoff and jitter (its HTTP calls make one attempt each)."""
    return {
        "autoretry_for": (TransientError,),
        "retry_backoff": backoff,
        "retry_backoff_max": backoff_max,
        "retry_jitter": True,
        "max_retries": max_retries,
    }


def task_started(task: Any = None, **_: Any) -> None:
    """Celery ``task_prerun``: a task with ``autoretry_for`` is the retry layer of its HTTP calls."""
    _single_attempt.set(bool(getattr(task, "autoretry_for", ())))


def task_finished(**_: Any) -> None:
    """Celery ``task_postrun``."""
    _single_attempt.set(False)


@dataclass
class RetryPolicy:
    # None: the HTTP_MAX_RETRIES setting, read at call time.
    max_retries: int | None = None
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    retry_statuses: frozenset[int] = RETRY_STATUSES

    @property
    def retries(self) -> int:
        return int(settings.HTTP_MAX_RETRIES) if self.max_retries is None else self.max_retries

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Equal jitter: uniform in [ceiling/2, ceiling], ceiling = base * 2**attempt capped at
        ``backoff_max``; Retry-After is a floor."""
        ceiling = min(self.backoff_max, self.backoff_base * (2**attempt))
        wait = random.uniform(ceiling / 2, ceiling)
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.backoff_max))
        return wait


class SentTooLate(Exception):
    """A paced request whose slot had passed when its first byte was about to leave: nothing was sent."""


# A paced request may be re-queued this often before the call gives up (a machine too busy to send
# anything on time); each re-queue waits for a new slot.
MAX_LATE_REQUEUES = 20


class _PacedSend:
    """Checks the pacer's deadline (``core.ratelimit.send_deadline``) at the last moment before the
    request is written — after the pooled connection was taken or opened — so a stall anywhere
    between the grant and the socket cannot send it late.

    A connection is opened before the check (a TLS handshake to a distant provider can outlast a
    slot's allowed lateness): when the request is then too late, nothing was written, and the open
    connection is parked in its pool for the next slot instead of being closed — otherwise every try
    would open a new connection, be late again, and the call could never be sent."""

    _late_but_clean = False

    def request(self, *args: Any, **kwargs: Any) -> None:
        deadline = send_deadline.get()
        if deadline is not None:
            if self.is_closed:  # type: ignore[attr-defined]
                self.connect()  # type: ignore[attr-defined]
            if time.monotonic() > deadline:
                self._late_but_clean = True
                raise SentTooLate
            send_deadline.set(None)  # the rest of this request (its body) goes out regardless
        super().request(*args, **kwargs)  # type: ignore[misc]

    def close(self) -> None:
        if self._late_but_clean:  # urllib3 closes the connection of a request that raised: this one is parked
            self._late_but_clean = False
            return
        super().close()  # type: ignore[misc]


class _PacedHTTPConnection(_PacedSend, HTTPConnection):
    pass


class _PacedHTTPSConnection(_PacedSend, HTTPSConnection):
    pass


class _ParkingPool:
    """Keeps the open connection of a request that was too late to send (see ``_PacedSend``) and
    hands it to the next request instead of a new one."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parked: deque[Any] = deque()

    def _make_request(self, conn: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return super()._make_request(conn, *args, **kwargs)  # type: ignore[misc]
        except SentTooLate:
            if conn._late_but_clean:
                self._parked.append(conn)
            raise

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        if conn.is_closed:  # a new one would be opened: take a parked, open one instead
            while self._parked:
                try:
                    parked = self._parked.popleft()
                except IndexError:
                    break
                if not is_connection_dropped(parked):
                    return parked
                parked.close()
        return conn

    def close(self) -> None:
        super().close()  # type: ignore[misc]
        while self._parked:
            self._parked.popleft().close()


class _PacedHTTPConnectionPool(_ParkingPool, HTTPConnectionPool):
    ConnectionCls = _PacedHTTPConnection


class _PacedHTTPSConnectionPool(_ParkingPool, HTTPSConnectionPool):
    ConnectionCls = _PacedHTTPSConnection


_PACED_POOLS = {"http": _PacedHTTPConnectionPool, "https": _PacedHTTPSConnectionPool}


class _PacedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(_PACED_POOLS)  # type: ignore[assignment]

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = dict(_PACED_POOLS)
        return manager


@dataclass
class HttpClient:
    service: str
    base_url: str
    timeout: tuple[float, float] | None = None
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    verify: bool | str = True
    default_headers: Mapping[str, str] = field(default_factory=dict)
    # Called before every attempt (e.g. a shared Redis limiter's ``acquire``).
    before_request: Callable[[], None] | None = None
    sleep: Callable[[float], None] = time.sleep
    # An outgoing proxy for every call (e.g. ``{"http": url, "https": url}``); set before first use.
    proxies: Mapping[str, str] | None = None
    # The level of the line logged for each answered call. A high-volume read-only client (Kaspi's
    # competitor offers: tens per second) logs them at DEBUG; failures are logged as WARNING anyway.
    success_log_level: int = logging.INFO

    def __post_init__(self) -> None:
        self.base_url = self.base_url.rstrip("/")
        if self.timeout is None:
            self.timeout = (settings.HTTP_CONNECT_TIMEOUT, settings.HTTP_READ_TIMEOUT)
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            adapter = _PacedAdapter(pool_connections=4, pool_maxsize=16, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers.update({"User-Agent": "merchant-ops/1.0", **self.default_headers})
            session.verify = self.verify
            # Never pick up proxies or netrc credentials from the environment by surprise.
            session.trust_env = False
            if self.proxies:
                session.proxies.update(self.proxies)
            self._local.session = session
        return session

    def url(self, path: str) -> str:
        if path.startswith(("http://", "https://")):
            return path
        return f"{self.base_url}/{path.lstrip('/')}"

    def retries_allowed(self, max_retries: int | None = None, *, retry: RetryPolicy | None = None) -> int:
        """How many times a failed call may be repeated here: 0 inside a task that is the retry layer."""
        if _single_attempt.get():
            return 0
        return (retry or self.retry).retries if max_retries is None else max_retries

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | Iterable[tuple[str, Any]] | None = None,
        json: Any = None,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        auth: Any = None,
        idempotent: bool | None = None,
        timeout: tuple[float, float] | float | None = None,
        ok_statuses: Iterable[int] | None = None,
        max_retries: int | None = None,
        before_request: Callable[[], None] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] | None = None,
        verify: bool | str | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        """Send one logical call; return the response for a 2xx (or ``ok_statuses``).

        ``idempotent`` defaults to the HTTP method's semantics; pass True for a POST that the
        provider de-duplicates (an idempotence key) so network failures are retried too.
        ``before_request`` (an account's pacer), ``retry``, ``sleep``, ``verify`` and ``proxies``
        replace the client's own for this call: a shared client (``http_client``) carries no account.
        """
        method = method.upper()
        url = self.url(path)
        safe_to_repeat = method in IDEMPOTENT_METHODS if idempotent is None else idempotent
        policy = retry or self.retry
        pause = sleep or self.sleep
        pace = before_request or self.before_request
        retries = self.retries_allowed(max_retries, retry=policy)
        accepted = set(ok_statuses) if ok_statuses is not None else None
        attempt = late = 0
        while True:
            send_deadline.set(None)
            if pace is not None:
                pace()  # a Pacer sets send_deadline for this request
            started = time.monotonic()
            try:
                response = self.session.request(
                    method,
                    url,
                    params=params,
                    json=json,
                    data=data,
                    headers=headers,
                    auth=auth,
                    timeout=timeout or self.timeout,
                    verify=verify,
                    proxies=dict(proxies) if proxies else None,
                )
            except SentTooLate:
                # Nothing was sent: its slot passed while this process was held up. Take the next one.
                late += 1
                if late > MAX_LATE_REQUEUES:
                    raise TransientError(f"{self.service}: could not send on pace", service=self.service) from None
                log.debug("%s %s %s: slot passed before sending; queued again", self.service, method, _loggable(url))
                continue
            except (requests.Timeout, requests.ConnectionError) as exc:
                elapsed = (time.monotonic() - started) * 1000
                kind = "timeout" if isinstance(exc, requests.Timeout) else "connection error"
                log.warning(
                    "%s %s %s -> %s after %.0f ms (attempt %d)",
                    self.service,
                    method,
                    untrusted(_loggable(url), 200),
                    kind,
                    elapsed,
                    attempt + 1,
                )
                # A POST that timed out may have been applied: repeat it only when it is safe.
                if safe_to_repeat and attempt < retries:
                    pause(policy.delay(attempt))
                    attempt += 1
                    continue
                raise TransientError(f"{kind} calling {self.service}", service=self.service) from exc
            except requests.RequestException as exc:
                raise IntegrationError(
                    f"invalid request to {self.service}: {type(exc).__name__}", service=self.service, permanent=True
                ) from exc

            elapsed = (time.monotonic() - started) * 1000
            status = response.status_code
            log.log(
                self.success_log_level if status < 400 else logging.INFO,
                "%s %s %s -> %d in %.0f ms",
                self.service,
                method,
                _loggable(url),
                status,
                elapsed,
            )
            if (accepted is not None and status in accepted) or (accepted is None and 200 <= status < 300):
                return response
            retry_after = _retry_after(response)
            # A 429 was not processed, so it is safe to repeat for any method; 5xx only if idempotent.
            retryable = status == 429 or (status in policy.retry_statuses and safe_to_repeat)
            if retryable and attempt < retries:
                pause(policy.delay(attempt, retry_after))
                attempt += 1
                continue
            transient = status in policy.retry_statuses or status == 408
            error_cls = TransientError if transient else IntegrationError
            raise error_cls(
                f"{self.service} answered {status}",
                service=self.service,
                permanent=not transient,
                status_code=status,
                retry_after=retry_after,
            )

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.request("POST", path, **kwargs)

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise IntegrationError(
                f"{self.service} sent a body that is not JSON",
                service=self.service,
                permanent=False,
                status_code=response.status_code,
            ) from exc


_registry: dict[tuple[str, str], HttpClient] = {}
_registry_lock = threading.Lock()


def http_client(service: str, base_url: str, **options: Any) -> HttpClient:
    """The process's one ``HttpClient`` for ``service`` at ``base_url`` (thread-safe; its sessions,
    one per thread, keep their pooled connections between calls). Per-call settings (headers,
    auth, timeout, retries, an account's pacer, ``verify``, proxies) are passed to ``request``, never
    stored on the shared client. ``options`` are the service's own constant settings, the same for
    every account (``retry``, ``default_headers``, ``success_log_level``): the first call builds the
    client with them, and a caller giving others is a mistake (``ValueError``), not a second client."""
    key = (service, base_url.rstrip("/"))
    client = _registry.get(key)
    if client is None:
        with _registry_lock:
            client = _registry.get(key)
            if client is None:
                client = _registry[key] = HttpClient(service=service, base_url=base_url, **options)
    for name, value in options.items():
        if getattr(client, name) != value:
            raise ValueError(f"http_client({service!r}): {name} differs from the shared client's")
    return client


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def _loggable(url: str) -> str:
    """Scheme, host and path only: query strings carry tokens (Vendista, Poster) and are dropped."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"
