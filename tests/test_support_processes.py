"""tests.support.processes: readiness waits tolerate a slow first answer, and every started process
is stopped whatever happens (PERF-4 once crashed on a read timeout and left its gunicorn running)."""

from __future__ import annotations

import sys

import pytest

from tests.support.processes import Processes, free_port

SLOW_SERVER = """
import sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
first = [True]
class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if first[0]:
            first[0] = False
            time.sleep(3)  # a cold start: the first request takes longer than a probe waits
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""


def test_a_slow_first_answer_is_waited_for_and_the_process_is_stopped_after() -> None:
    port = free_port()
    assert 20000 <= port < 32768  # below the ephemeral range
    with Processes() as procs:
        # The first probe times out (a read timeout, not a refused connection): still "not yet".
        server = procs.spawn(
            [sys.executable, "-c", SLOW_SERVER, str(port)],
            {},
            f"http://127.0.0.1:{port}/",
            timeout=60,
            probe_timeout=0.5,
        )
        assert server.poll() is None
    assert server.poll() is not None  # stopped on leaving the block


def test_a_process_that_never_gets_ready_is_stopped_too() -> None:
    port = free_port()
    procs = Processes()
    with pytest.raises(AssertionError, match="not ready"), procs:
        procs.spawn([sys.executable, "-c", "import time; time.sleep(600)"], {}, f"http://127.0.0.1:{port}/", timeout=1)
    assert procs.started and all(p.poll() is not None for p in procs.started)


def test_a_process_that_exits_early_is_reported() -> None:
    with pytest.raises(AssertionError, match="exited"), Processes() as procs:
        procs.spawn([sys.executable, "-c", "raise SystemExit(3)"], {}, f"http://127.0.0.1:{free_port()}/")
