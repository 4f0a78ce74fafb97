"""A forward HTTP proxy on 127.0.0.1 whose outgoing connections leave from another loopback address.

Stands in for a real proxy in tests, benchmarks and `make run`: a simulator sees each proxy as a
distinct client IP (``127.0.0.2``, ``127.0.0.3`` …), so per-IP limits behave as they do at Kaspi.
Only loopback targets are forwarded (SPEC PLAT-12). Start it, use ``proxy.url``, stop it by handle.

It runs as a thread of the test process, which a busy CPU stalls; a real proxy relays at once. So it
passes on the kernel's receive time of each request (``PROXY_ARRIVED_HEADER``) and a simulator counts
the request when our client sent it, not when a stalled relay got round to it (sandbox/arrivals.py).
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from sandbox.arrivals import PROXY_ARRIVED_HEADER, kernel_arrival, stamp_arrivals

_HOP = {"connection", "keep-alive", "proxy-connection", "proxy-authorization", "te", "trailers", "upgrade",
        "transfer-encoding"}  # fmt: skip


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def setup(self) -> None:
        super().setup()
        self._stamped = stamp_arrivals(self.connection)
        self._arrived: float | None = None

    def handle_one_request(self) -> None:
        self._arrived = kernel_arrival(self.connection) if self._stamped else None
        super().handle_one_request()

    def _forward(self) -> None:
        target = urlsplit(self.path)
        if target.scheme != "http" or target.hostname not in ("127.0.0.1", "localhost"):
            self._reply(403, b"only loopback http targets")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else None
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP | {PROXY_ARRIVED_HEADER.lower()}}
        if self._arrived is not None:
            headers[PROXY_ARRIVED_HEADER] = f"{self._arrived:.6f}"
        path = target.path + (f"?{target.query}" if target.query else "")
        key = (target.hostname, target.port or 80)
        conns = self.server.local.__dict__.setdefault("conns", {})
        for attempt in range(2):
            conn = conns.get(key)
            if conn is None:
                conn = http.client.HTTPConnection(*key, timeout=60, source_address=(self.server.source_ip, 0))
                conns[key] = conn
            try:
                conn.request(self.command, path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                break
            except (OSError, http.client.HTTPException):
                conn.close()
                conns.pop(key, None)
                if attempt:
                    self._reply(502, b"upstream failed")
                    return
        self.send_response(response.status)
        for name, value in response.getheaders():
            if name.lower() not in _HOP and name.lower() != "content-length":
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _reply(self, status: int, text: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Length", str(len(text)))
        self.end_headers()
        self.wfile.write(text)

    do_GET = do_POST = do_PUT = do_DELETE = _forward


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    source_ip = "127.0.0.2"
    local = threading.local()

    def server_bind(self) -> None:
        stamp_arrivals(self.socket)  # before any connection: each one inherits it from the listener
        super().server_bind()


class ForwardProxy:
    def __init__(self, *, source_ip: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.server = _ProxyServer((host, port), _Handler)
        self.server.source_ip = source_ip
        self.server.local = threading.local()
        self.thread = threading.Thread(target=self.server.serve_forever, name=f"proxy-{source_ip}", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> ForwardProxy:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


if __name__ == "__main__":
    # ``python -m sandbox.proxy 127.0.0.2``: print the proxy URL, serve until stdin closes.
    import sys

    proxy = ForwardProxy(source_ip=sys.argv[1]).start()
    print(proxy.url, flush=True)
    try:
        sys.stdin.read()
    finally:
        proxy.stop()
