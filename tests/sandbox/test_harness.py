from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sandbox.echo import EchoSimulator
from sandbox.harness import SandboxServer


@pytest.fixture
def echo(sandbox: Callable[[EchoSimulator], SandboxServer]) -> SandboxServer:
    return sandbox(EchoSimulator())


def _faults(server: SandboxServer, **values: object) -> dict:
    response = requests.post(f"{server.url}/_sandbox/faults", json=values, timeout=5)
    response.raise_for_status()
    return response.json()


def test_listens_on_loopback_only() -> None:
    with pytest.raises(ValueError):
        SandboxServer(EchoSimulator(), host="0.0.0.0")


def test_latency_knob(echo: SandboxServer) -> None:
    _faults(echo, latency_ms=200)
    started = time.monotonic()
    requests.get(f"{echo.url}/echo", timeout=5)
    assert time.monotonic() - started >= 0.2


def test_error_rate_knob(echo: SandboxServer) -> None:
    _faults(echo, error_rate=1.0, error_status=503)
    assert requests.get(f"{echo.url}/echo", timeout=5).status_code == 503
    _faults(echo, error_rate=0.0)
    assert requests.get(f"{echo.url}/echo", timeout=5).status_code == 200


def test_burst_of_429_then_normal(echo: SandboxServer) -> None:
    _faults(echo, burst_429=2, retry_after=3)
    codes = [requests.get(f"{echo.url}/echo", timeout=5) for _ in range(3)]
    assert [r.status_code for r in codes] == [429, 429, 200]
    assert float(codes[0].headers["Retry-After"]) == 3


def test_enforced_rate_limit_rejects_the_excess(echo: SandboxServer) -> None:
    _faults(echo, rate_limit_per_second=5)
    with ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(lambda _: requests.get(f"{echo.url}/echo", timeout=5).status_code, range(20)))
    assert codes.count(200) == 5 and codes.count(429) == 15
    stats = requests.get(f"{echo.url}/_sandbox/stats", timeout=5).json()
    assert stats["requests"] == 20 and stats["rejected"] == 15


def test_hanging_request_is_released_and_bad_knobs_are_400(echo: SandboxServer) -> None:
    _faults(echo, hang_next=1, hang_seconds=0.5)
    assert requests.get(f"{echo.url}/echo", timeout=5).status_code == 504
    bad = requests.post(f"{echo.url}/_sandbox/faults", json={"no_such_knob": 1}, timeout=5)
    assert bad.status_code == 400


def test_reset_clears_state_and_knobs(echo: SandboxServer) -> None:
    requests.get(f"{echo.url}/echo", timeout=5)
    _faults(echo, latency_ms=10)
    requests.post(f"{echo.url}/_sandbox/reset", timeout=5)
    assert echo.simulator.state == {"seen": []}
    assert _faults(echo)["latency_ms"] == 0.0


_SENDER = """
import json, socket, sys, time
port, count, gap = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
sent, conns = [], []
start = time.time()
for i in range(count):  # one connection each, answers read at the end: the kernel accepts for a stalled server
    time.sleep(max(0.0, start + i * gap - time.time()))
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent.append(time.time())
    conn.sendall(b"GET /echo HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n")
    conns.append(conn)
for conn in conns:
    while conn.recv(65536):
        pass
    conn.close()
print(json.dumps(sent))
"""


def test_arrival_times_are_the_kernels_so_a_stalled_simulator_does_not_bunch_them(echo: SandboxServer) -> None:
    """A simulator shares the CPU with what it measures: when its threads stall (here: this process
    holds the GIL for 1.5 s, as a busy machine can make it wait), requests that arrived 0.25 s apart
    must still be counted 0.25 s apart — not as one burst when the simulator wakes up."""
    import json
    import subprocess
    import sys

    sender = subprocess.Popen(
        [sys.executable, "-c", _SENDER, str(echo.port), "6", "0.25"], stdout=subprocess.PIPE, text=True
    )
    try:
        time.sleep(0.3)  # the first request is answered before the stall
        previous = sys.getswitchinterval()
        sys.setswitchinterval(5.0)  # no other thread of this process runs until the loop below ends
        try:
            end = time.monotonic() + 1.5
            while time.monotonic() < end:
                pass
        finally:
            sys.setswitchinterval(previous)
        out, _ = sender.communicate(timeout=60)
    finally:
        if sender.poll() is None:
            sender.kill()
            sender.wait(10)
    sent = json.loads(out)
    times = sorted(echo.simulator._request_times)  # monotonic arrivals, as the rate checks use them
    assert len(times) == 6
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Without the kernel's stamp the requests sent during the stall are taken together when it ends.
    assert min(gaps) > 0.15, (gaps, sent)
    assert echo.simulator.max_requests_in_window(0.2) == 1
