"""The HTTP server a simulator runs in: one per simulator, on 127.0.0.1, from a thread (port 0 =
ephemeral), so tests and benchmarks start as many as they need and stop them by handle.

HTTP/1.1 with keep-alive as the real APIs speak it; each request carries the kernel's receive time
of its first byte (sandbox/arrivals.py) in ``environ["sandbox.arrived"]``.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any
from wsgiref.simple_server import ServerHandler, WSGIRequestHandler, WSGIServer, make_server

from .arrivals import kernel_arrival, stamp_arrivals

if TYPE_CHECKING:
    from .harness import Simulator

log = logging.getLogger("sandbox")


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


def serve_until_interrupted(simulator: Simulator, *, port: int = 0) -> None:
    """Run one simulator in this process (benchmarks start it so); prints its URL, stops on Ctrl-C."""
    server = SandboxServer(simulator, port=port).start()
    print(server.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()
