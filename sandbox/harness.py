"""The base every sandbox simulator is built on (SPEC PLAT-12).

A ``Simulator`` is a small WSGI app with routes, shared state behind a lock, and fault knobs:
latency, error rate, bursts of 429, hanging requests, an enforced request-rate limit (the
provider's own) and lost answers (a request applied, its answer dropped / 5xx / hung).
``SandboxServer`` serves one on 127.0.0.1 from a thread (port 0 = ephemeral),
so tests and benchmarks start as many as they need and stop them by handle.

Control endpoints on every simulator (for tests, benchmarks and the person clicking around):
    GET  /_sandbox/faults      current knobs        POST /_sandbox/faults  {"latency_ms": 50, ...}
    POST /_sandbox/reset       state and knobs      GET  /_sandbox/stats   request counts, max rate

When a request arrived is the kernel's word, not this process's: a provider counts requests at its
edge, and a simulator written in Python shares the CPU with the code it measures. A stalled
simulator thread that reads a backlog late would otherwise count it as one burst — the rate checks
would blame the client for the simulator's own stall. So every connection has ``SO_TIMESTAMPNS``
on, and each request carries the kernel's receive time of its first byte (``Request.arrived``,
wall clock; ``arrived_monotonic()`` on the monotonic clock). Rate limits, bans and statistics use it.
A request relayed by the sandbox's own forward proxy (``sandbox/proxy.py``, a thread of the test
process that a busy CPU stalls too) carries the proxy's kernel time in ``PROXY_ARRIVED_HEADER``; an
earlier time there is the moment the client sent it, which is what a real proxy (that does not stall
for a Python process) would have passed on at once.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

log = logging.getLogger("sandbox")

MAX_HANG_SECONDS = 60.0
# Linux's values (asm-generic/socket.h); Python's socket module does not name them.
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
_TIMESPEC = struct.Struct("@qq")
PROXY_ARRIVED_HEADER = "X-Sandbox-Proxy-Arrived"
_PROXY_TRUST_SECONDS = 30.0  # a relayed time further back than this is not a stall: ignored


def stamp_arrivals(sock: socket.socket) -> bool:
    """Ask the kernel to stamp each packet's receive time on ``sock`` (a listener passes it on)."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    except OSError:  # not Linux: arrivals fall back to the handler's clock
        return False
    return True


def kernel_arrival(connection: socket.socket) -> float | None:
    """Wait for the next request's first byte without taking it (MSG_PEEK) and return the kernel's
    receive time of it (wall clock), or None where there is none. The buffered reader holds nothing
    between two requests: no client of ours pipelines (requests/urllib3, http.client and browsers send
    the next request after the answer)."""
    try:
        data, ancillary, _flags, _addr = connection.recvmsg(1, socket.CMSG_SPACE(_TIMESPEC.size), socket.MSG_PEEK)
    except OSError:  # the idle timeout or a reset: the reader sees it too
        return None
    if not data:
        return None
    for level, kind, payload in ancillary:
        if level == socket.SOL_SOCKET and kind == SCM_TIMESTAMPNS and len(payload) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack(payload[: _TIMESPEC.size])
            return float(seconds + nanoseconds / 1e9)
    return None


def _relayed_arrival(arrived: float | None, headers: dict[str, str]) -> float | None:
    """The sandbox proxy's kernel time of a relayed request, where it is the earlier one."""
    try:
        relayed = float(headers.get(PROXY_ARRIVED_HEADER, ""))
    except ValueError:
        return arrived
    own = arrived if arrived is not None else time.time()
    return relayed if own - _PROXY_TRUST_SECONDS <= relayed <= own else arrived


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

    # --- statistics used by tests and benchmarks --------------------------------------------
    def max_requests_in_window(self, window: float = 1.0, since: float = 0.0) -> int:
        with self.lock:
            times = sorted(t for t in self._request_times if t >= since)
        best, start = 0, 0
        for end in range(len(times)):
            while times[end] - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

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
            arrived=_relayed_arrival(environ.get("sandbox.arrived"), headers),
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


class _Http11ServerHandler(ServerHandler):
    http_version = "1.1"


class _QuietHandler(WSGIRequestHandler):
    """HTTP/1.1 with keep-alive, as the real APIs speak it: clients reuse pooled connections, so the
    simulators exercise that too (wsgiref alone answers HTTP/1.0 and closes every connection)."""

    protocol_version = "HTTP/1.1"
    timeout = 30  # an idle kept-alive connection is closed after this
    # wsgiref writes the headers and the body separately: on a kept-alive connection Nagle would hold
    # the body until the client's delayed ACK (~40 ms per response).
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def setup(self) -> None:
        super().setup()
        self._stamped = stamp_arrivals(self.connection)
        self._arrived: float | None = None

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ["sandbox.connection"] = self.connection  # to drop it (Faults.lose_answer_*)
        environ["sandbox.arrived"] = self._arrived
        return environ

    def handle(self) -> None:
        self.close_connection = True
        self._handle_one()
        while not self.close_connection:
            self._handle_one()

    def _handle_one(self) -> None:
        self._arrived = kernel_arrival(self.connection) if self._stamped else None
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except OSError:  # the idle timeout, or the peer went away
            self.close_connection = True
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = self.request_version = self.command = ""
            self.send_error(414)
            self.close_connection = True
            return
        if not self.parse_request():  # an error was sent; parse_request decided about the connection
            return
        wfile: Any = self.wfile  # a BufferedIOBase; wsgiref's stubs want IO[bytes]
        handler = _Http11ServerHandler(self.rfile, wfile, self.get_stderr(), self.get_environ(), multithread=False)
        handler.request_handler = self  # type: ignore[attr-defined]  # back-pointer for logging, as wsgiref does
        handler.run(self.server.get_app())  # type: ignore[attr-defined]


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._open: set[socket.socket] = set()  # kept-alive connections, closed when the server stops
        self._open_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def server_bind(self) -> None:
        # On the listening socket, before any request: the kernel stamps a packet only while some
        # socket asks for stamps, and a connection inherits the option from its listener — so even
        # data that arrives before a stalled server accepts the connection carries its time.
        stamp_arrivals(self.socket)
        super().server_bind()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def close_open_connections(self) -> None:
        """A stopped simulator must look down to clients holding a kept-alive connection too."""
        with self._open_lock:
            for sock in list(self._open):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class SandboxServer:
    """Serve a simulator on 127.0.0.1 in a background thread. ``with SandboxServer(sim) as s:``."""

    def __init__(self, simulator: Simulator, *, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError("sandbox simulators listen on loopback only")
        self.simulator = simulator
        self.httpd = make_server(host, port, simulator, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
        self.host = host
        self.port = self.httpd.server_port
        self.url = f"http://{host}:{self.port}"
        simulator.base_url = self.url
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"sandbox-{self.simulator.name}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.close_open_connections()
        self.httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


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


def serve_until_interrupted(simulator: Simulator, *, port: int = 0) -> None:
    """Run one simulator in this process (benchmarks start it so); prints its URL, stops on Ctrl-C."""
    server = SandboxServer(simulator, port=port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
