from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from sandbox.echo import EchoSimulator
from sandbox.harness import Request, Response, SandboxServer, json_body, json_response, max_in_window


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
port, count, gap, target = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
sent, conns = [], []
start = time.time()
for i in range(count):  # one connection each, answers read at the end: the kernel accepts for a stalled server
    time.sleep(max(0.0, start + i * gap - time.time()))
    conn = socket.create_connection(("127.0.0.1", port), timeout=30)
    sent.append(time.time())
    conn.sendall(f"GET {target} HTTP/1.1\\r\\nHost: x\\r\\nConnection: close\\r\\n\\r\\n".encode())
    conns.append(conn)
for conn in conns:
    while conn.recv(65536):
        pass
    conn.close()
print(json.dumps(sent))
"""


def _send_through_a_stall(port: int, target: str) -> list[float]:
    """Six requests 0.25 s apart from another process while this one holds the GIL for 1.5 s."""
    import json
    import subprocess
    import sys

    sender = subprocess.Popen(
        [sys.executable, "-c", _SENDER, str(port), "6", "0.25", target], stdout=subprocess.PIPE, text=True
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
    return list(json.loads(out))


def _assert_not_bunched(echo: SandboxServer, sent: list[float]) -> None:
    times = sorted(echo.simulator._request_times)  # monotonic arrivals, as the rate checks use them
    assert len(times) == 6
    gaps = [b - a for a, b in itertools.pairwise(times)]
    # Without the kernel's stamp the requests sent during the stall are taken together when it ends.
    assert min(gaps) > 0.15, (gaps, sent)
    assert echo.simulator.max_requests_in_window(0.2) == 1


def test_arrival_times_are_the_kernels_so_a_stalled_simulator_does_not_bunch_them(echo: SandboxServer) -> None:
    """A simulator shares the CPU with what it measures: when its threads stall (here: this process
    holds the GIL for 1.5 s, as a busy machine can make it wait), requests that arrived 0.25 s apart
    must still be counted 0.25 s apart — not as one burst when the simulator wakes up."""
    _assert_not_bunched(echo, _send_through_a_stall(echo.port, "/echo"))


def test_a_stalled_sandbox_proxy_passes_on_when_the_client_sent_each_request(echo: SandboxServer) -> None:
    """The sandbox's forward proxy is a thread of the test process too (the Kaspi repricer's per-IP
    limits go through it). Stalled with it, it relays a backlog at once; the simulator must still
    count each request when the client sent it (the proxy's kernel time), or a per-IP ban would
    blame our pacing for the test's own stall. A client cannot make its requests look later."""
    from sandbox.arrivals import PROXY_ARRIVED_HEADER
    from sandbox.proxy import ForwardProxy

    proxy = ForwardProxy(source_ip="127.0.0.2").start()
    try:
        port = int(proxy.url.rsplit(":", 1)[1])
        sent = _send_through_a_stall(port, f"{echo.url}/echo")
    finally:
        proxy.stop()
    _assert_not_bunched(echo, sent)
    assert {seen["remote"] for seen in echo.simulator.state["seen"]} == {"127.0.0.2"}
    # Sent directly, the header cannot move an arrival later than the kernel saw it.
    before = len(echo.simulator._request_times)
    later = f"{time.time() + 60:.6f}"
    requests.get(f"{echo.url}/echo", headers={PROXY_ARRIVED_HEADER: later}, timeout=5)
    assert echo.simulator._request_times[before] <= time.monotonic()


class _KnobSimulator(EchoSimulator):
    """A simulator with one control route of its own, as the provider simulators have."""

    name = "knobs"

    def setup(self) -> None:
        super().setup()
        self.control_route(r"/_sandbox/knobs")(self.knobs)

    def knobs(self, request: Request) -> Response:
        body = json_body(request)
        with self.lock:
            self.state.update(body)
            return json_response({"knobs": {k: v for k, v in self.state.items() if k != "seen"}})


def test_a_simulators_control_route_answers_before_faults_and_is_not_counted(
    sandbox: Callable[[EchoSimulator], SandboxServer],
) -> None:
    server = sandbox(_KnobSimulator())
    _faults(server, error_rate=1.0, error_status=503, burst_429=3)
    answer = requests.post(f"{server.url}/_sandbox/knobs", json={"unpaid": True}, timeout=5)
    assert answer.status_code == 200
    assert answer.json() == {"knobs": {"unpaid": True}}
    assert requests.get(f"{server.url}/_sandbox/knobs", timeout=5).json() == {"knobs": {"unpaid": True}}
    assert server.simulator.request_count == 0
    assert requests.get(f"{server.url}/echo", timeout=5).status_code == 429  # the faults still apply to the API


def test_a_control_body_that_is_not_a_json_object_is_answered_400_and_changes_nothing(
    sandbox: Callable[[EchoSimulator], SandboxServer],
) -> None:
    server = sandbox(_KnobSimulator())
    not_json = requests.post(f"{server.url}/_sandbox/knobs", data=b"{unpaid", timeout=5)
    assert (not_json.status_code, not_json.json()) == (400, {"error": "send JSON"})
    a_list = requests.post(f"{server.url}/_sandbox/knobs", json=[1, 2], timeout=5)
    assert (a_list.status_code, a_list.json()) == (400, {"error": "send a JSON object"})
    assert requests.get(f"{server.url}/_sandbox/knobs", timeout=5).json() == {"knobs": {}}


def test_control_routes_live_under_the_sandbox_prefix() -> None:
    with pytest.raises(ValueError):
        EchoSimulator().control_route(r"/orders")


def test_max_in_window_counts_the_busiest_window() -> None:
    assert max_in_window([]) == 0
    assert max_in_window([3.0, 0.0, 0.5, 0.99, 1.0, 1.2]) == 4  # 0.5, 0.99, 1.0, 1.2
    assert max_in_window([0.0, 0.5, 1.0], window=0.5) == 1
