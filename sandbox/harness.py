"""The base every sandbox simulator is built on (SPEC PLAT-12).

A ``Simulator`` is a small WSGI app with routes, shared state behind a lock, and fault knobs:
latency, error rate, bursts of 429, hanging requests, an enforced request-rate limit (the
provider's own) and lost answers (a request applied, its answer dropped / 5xx / hung).
``SandboxServer`` (sandbox/server.py) serves one on 127.0.0.1 from a thread (port 0 = ephemeral),
so tests and benchmarks start as many as they need and stop them by handle. When a request arrived
is the kernel's word, not this process's (sandbox/arrivals.py); rate limits, bans and statistics
use ``Request.arrived``.

Control endpoints on every simulator (for tests, benchmarks and the person clicking around):
    GET  /_sandbox/faults      current knobs        POST /_sandbox/faults  {"latency_ms": 50, ...}
    POST /_sandbox/reset       state and knobs      GET  /_sandbox/stats   request counts, max rate
A simulator adds its own with ``self.control_route(r"/_sandbox/<name>")(handler)``: answered before
faults, limits and statistics, like these; a handler reads its JSON with ``json_body(request)``,
whose ``BadBody`` is answered 400 ``{"error": ...}``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import parse_qs

from .arrivals import relayed_arrival
from .server import SandboxServer, serve_until_interrupted

__all__ = [
    "MAX_HANG_SECONDS",
    "BadBody",
    "Faults",
    "Request",
    "Response",
    "SandboxServer",
    "Simulator",
    "json_body",
    "json_response",
    "max_in_window",
    "post",
    "serve_until_interrupted",
]

log = logging.getLogger("sandbox")

MAX_HANG_SECONDS = 60.0


@dataclass
class Faults:
    latency_ms: float = 0.0  # added to every request
    latency_jitter_ms: float = 0.0
    error_rate: float = 0.0  # fraction answered with error_status
    error_status: int = 500
    burst_429: int = 0  # the next N requests get 429
    retry_after: float | None = None  # Retry-After header on those 429s
    hang_next: int = 0  # the next N requests hang for hang_seconds, then are dropped
    hang_seconds: float = 30.0
    html_next: int = 0  # the next N requests get 200 with an HTML page (a proxy's or captive portal's error)
    rate_limit_per_second: float = 0.0  # the provider's own limit; over it → 429 (0 = off)
    rate_limit_status: int = 429
    # "Applied, then the answer was lost" (what idempotence keys exist for): the next N requests that
    # change something (not GET; only paths matching ``lose_answer_path`` when set) are handled in
    # full, then the answer is lost: "drop" closes the connection, "5xx" answers 502, "hang" holds
    # the connection for hang_seconds (past the client's timeout) and then drops it.
    lose_answer_next: int = 0
    lose_answer_mode: str = "drop"
    lose_answer_path: str = ""

    def update(self, values: dict[str, Any]) -> None:
        for key, value in values.items():
            if not hasattr(self, key):
                raise KeyError(key)
            current = getattr(self, key)
            setattr(self, key, type(current)(value) if current is not None and value is not None else value)


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    params: dict[str, str] = field(default_factory=dict)
    remote_addr: str = ""
    # The kernel's receive time of the request's first byte (wall clock); None where the platform
    # gives none (then the moment the handler ran).
    arrived: float | None = None

    def arrived_wall(self) -> float:
        return self.arrived if self.arrived is not None else time.time()

    def arrived_monotonic(self) -> float:
        """The arrival on the monotonic clock: now, less how long ago the kernel received it."""
        now = time.monotonic()
        if self.arrived is None:
            return now
        return now - max(0.0, time.time() - self.arrived)

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def json_value(self, default: Any = None) -> Any:
        """The body as JSON, or ``default`` where it is empty, ``null`` or not JSON at all."""
        try:
            value = self.json()
        except ValueError:
            return default
        return default if value is None else value

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Response:
    status: int = 200
    body: Any = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    drop: bool = False  # close the connection instead of answering (a lost answer)

    def encode(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body, ensure_ascii=False, default=str).encode()


def json_response(body: Any, status: int = 200, **headers: str) -> Response:
    return Response(status=status, body=body, headers=dict(headers))


class BadBody(ValueError):
    """A body that is not the JSON a handler takes; the simulator answers 400 ``{"error": message}``."""


def json_body(request: Request, kind: type = dict, *, invalid: str = "") -> Any:
    """The body as JSON of ``kind`` (a control's knobs, a test inbox's message); an empty body or
    ``null`` is an empty ``kind``. Raises ``BadBody`` ("send JSON", "send a JSON object", or
    ``invalid`` where given) for anything else."""
    try:
        value = request.json()
    except ValueError:
        raise BadBody(invalid or "send JSON") from None
    if value is None:
        return kind()
    if not isinstance(value, kind):
        raise BadBody(invalid or f"send a JSON {'object' if kind is dict else kind.__name__}")
    return value


def max_in_window(times: Iterable[float], window: float = 1.0) -> int:
    """The most of ``times`` that fall in any one window of ``window`` seconds."""
    ordered = sorted(times)
    best, start = 0, 0
    for end in range(len(ordered)):
        while ordered[end] - ordered[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


Handler = Callable[[Request], Response]
_STATUS_TEXT = {
    200: "OK",
    201: "Created",
    204: "No Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}


class Simulator:
    """Subclass, set ``name``, add routes in ``setup()`` with ``self.route(method, pattern)``.

    Patterns are regular expressions over the path with named groups: ``r"/orders/(?P<id>\\d+)"``.
    ``self.state`` is shared by all request threads; hold ``self.lock`` while changing it.
    """

    name = "simulator"

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.lock = threading.RLock()
        self.faults = Faults()
        self.state: dict[str, Any] = {}
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._control_routes: list[tuple[re.Pattern[str], Handler]] = []
        self._request_times: deque[float] = deque(maxlen=100_000)
        self._limit_times: deque[float] = deque()
        self.request_count = 0
        self.rejected_count = 0
        self.lost_answers = 0
        self.base_url = ""
        self.reset_state()
        self.setup()

    # --- to override -------------------------------------------------------------------
    def setup(self) -> None:
        """Register routes."""

    def reset_state(self) -> None:
        """Initialise ``self.state``."""

    def rate_limit_key(self, request: Request) -> str | None:
        """Which bucket a request counts against for ``rate_limit_per_second`` (None = exempt)."""
        return "all"

    # --- routing --------------------------------------------------------------------------
    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        compiled = re.compile(f"^{pattern}$")

        def decorator(handler: Handler) -> Handler:
            self._routes.append((method.upper(), compiled, handler))
            return handler

        return decorator

    def add_route(self, method: str, pattern: str, handler: Handler) -> None:
        self.route(method, pattern)(handler)

    def control_route(self, pattern: str) -> Callable[[Handler], Handler]:
        """This simulator's own knobs under ``/_sandbox/`` (any method), answered like the harness's:
        before faults and limits, and not counted as requests to the provider."""
        if not pattern.startswith("/_sandbox/"):
            raise ValueError("control routes live under /_sandbox/")
        compiled = re.compile(f"^{pattern}$")

        def decorator(handler: Handler) -> Handler:
            self._control_routes.append((compiled, handler))
            return handler

        return decorator

    # --- statistics used by tests and benchmarks --------------------------------------------
    def max_requests_in_window(self, window: float = 1.0, since: float = 0.0) -> int:
        with self.lock:
            times = [t for t in self._request_times if t >= since]
        return max_in_window(times, window)

    def stats(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "requests": self.request_count,
            "rejected": self.rejected_count,
            "max_per_second": self.max_requests_in_window(1.0),
        }

    def reset(self) -> None:
        with self.lock:
            self.faults = Faults()
            self._request_times.clear()
            self._limit_times.clear()
            self.request_count = self.rejected_count = self.lost_answers = 0
            self.reset_state()

    # --- WSGI -----------------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        body = environ["wsgi.input"].read(length) if length else b""
        headers = {k[5:].replace("_", "-").title(): v for k, v in environ.items() if k.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        request = Request(
            method=environ["REQUEST_METHOD"].upper(),
            path=environ.get("PATH_INFO", "/"),
            query=parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            headers=headers,
            body=body,
            remote_addr=environ.get("REMOTE_ADDR", ""),
            arrived=relayed_arrival(environ.get("sandbox.arrived"), headers),
        )
        response = self.handle(request)
        if response.drop:
            connection = environ.get("sandbox.connection")
            if connection is not None:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            raise BrokenPipeError("sandbox: answer dropped")  # wsgiref ends such a request quietly
        status_line = f"{response.status} {_STATUS_TEXT.get(response.status, 'Status')}"
        payload = response.encode()
        header_list = [("Content-Type", response.content_type), ("Content-Length", str(len(payload)))]
        header_list += list(response.headers.items())
        start_response(status_line, header_list)
        return [payload]

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_sandbox/"):
            return self._control(request)
        now = request.arrived_monotonic()
        with self.lock:
            self.request_count += 1
            self._request_times.append(now)
            faults = Faults(**asdict(self.faults))
            hang = self.faults.hang_next > 0
            if hang:
                self.faults.hang_next -= 1
            burst = self.faults.burst_429 > 0
            if burst:
                self.faults.burst_429 -= 1
            html = self.faults.html_next > 0
            if html:
                self.faults.html_next -= 1
            over_limit = self._over_rate_limit(request, now)
        if hang:
            time.sleep(min(faults.hang_seconds, MAX_HANG_SECONDS))
            return Response(status=504, body={"error": "sandbox: hung request"})
        delay = faults.latency_ms + (random.uniform(0, faults.latency_jitter_ms) if faults.latency_jitter_ms else 0)
        if delay > 0:
            time.sleep(delay / 1000.0)
        if burst or over_limit:
            with self.lock:
                self.rejected_count += 1
            headers = {"Retry-After": str(faults.retry_after)} if faults.retry_after is not None else {}
            status = 429 if burst else faults.rate_limit_status
            return Response(status=status, body={"error": "Too Many Requests"}, headers=headers)
        if faults.error_rate and random.random() < faults.error_rate:
            return Response(status=faults.error_status, body={"error": "sandbox: injected error"})
        if html:
            return Response(
                status=200,
                content_type="text/html; charset=utf-8",
                body="<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
            )
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method in (request.method, "*"):
                request.params = {k: v for k, v in match.groupdict().items() if v is not None}
                try:
                    response = handler(request)
                except BadBody as exc:
                    return json_response({"error": str(exc)}, 400)
                except Exception as exc:  # a simulator bug must show up as a 500 to the client
                    log.exception("sandbox %s: handler error", self.name)
                    return Response(status=500, body={"error": f"sandbox handler error: {type(exc).__name__}"})
                return self._maybe_lose_answer(request, response)
        return Response(status=404, body={"error": "not found", "path": request.path})

    def _maybe_lose_answer(self, request: Request, response: Response) -> Response:
        with self.lock:
            wanted = self.faults.lose_answer_next > 0 and request.method != "GET"
            pattern = self.faults.lose_answer_path
            if wanted and pattern and not re.search(pattern, request.path):
                wanted = False
            if not wanted:
                return response
            self.faults.lose_answer_next -= 1
            self.lost_answers += 1
            mode, hang = self.faults.lose_answer_mode, self.faults.hang_seconds
        if mode == "5xx":
            return Response(status=502, body={"error": "sandbox: bad gateway (the request was applied)"})
        if mode == "hang":
            time.sleep(min(hang, MAX_HANG_SECONDS))
        return Response(status=502, drop=True)

    def _over_rate_limit(self, request: Request, now: float) -> bool:
        limit = self.faults.rate_limit_per_second
        if not limit or self.rate_limit_key(request) is None:
            return False
        # Sliding one-second window over accepted requests, like a provider's gateway.
        while self._limit_times and now - self._limit_times[0] >= 1.0:
            self._limit_times.popleft()
        if len(self._limit_times) >= limit:
            return True
        self._limit_times.append(now)
        return False

    def _control(self, request: Request) -> Response:
        for pattern, handler in self._control_routes:
            if pattern.match(request.path):
                try:
                    return handler(request)
                except BadBody as exc:
                    return json_response({"error": str(exc)}, 400)
        if request.path == "/_sandbox/faults":
            if request.method == "POST":
                try:
                    with self.lock:
                        self.faults.update(request.json() or {})
                except (KeyError, ValueError, TypeError) as exc:
                    return json_response({"error": f"bad fault setting: {exc}"}, 400)
            return json_response(asdict(self.faults))
        if request.path == "/_sandbox/reset" and request.method == "POST":
            self.reset()
            return json_response({"ok": True})
        if request.path == "/_sandbox/stats":
            return json_response(self.stats())
        return json_response({"error": "unknown control path"}, 404)


def post(url: str, payload: bytes, content_type: str, *, timeout: float = 10.0) -> int:
    """POST a notification the way a provider does; returns the receiver's HTTP status (0: unreachable)."""
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=payload, method="POST", headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)
    except OSError:
        return 0
