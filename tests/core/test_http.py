from __future__ import annotations

import logging
import time
from collections.abc import Callable

import pytest
import requests

from core.exceptions import IntegrationError, TransientError
from core.http import HttpClient, RetryPolicy
from sandbox.echo import EchoSimulator
from sandbox.harness import SandboxServer
from tests.support.concurrency import at_once


@pytest.fixture
def echo(sandbox: Callable[[EchoSimulator], SandboxServer]) -> SandboxServer:
    return sandbox(EchoSimulator())


def _client(server: SandboxServer, sleeps: list[float], **kwargs: object) -> HttpClient:
    return HttpClient(
        service="echo",
        base_url=server.url,
        timeout=(1.0, 1.0),
        retry=RetryPolicy(max_retries=3, backoff_base=0.1, backoff_max=2.0),
        sleep=sleeps.append,
        **kwargs,
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_get_is_retried_on_429_and_5xx_with_growing_backoff(echo: SandboxServer, status: int) -> None:
    sleeps: list[float] = []
    response = _client(echo, sleeps).get(f"/flaky/3/{status}")
    assert response.json() == {"ok": True, "calls": 4}
    assert len(sleeps) == 3
    # Equal jitter within [ceiling/2, ceiling], ceiling doubling: 0.1, 0.2, 0.4.
    for attempt, slept in enumerate(sleeps):
        ceiling = 0.1 * 2**attempt
        assert ceiling / 2 <= slept <= ceiling


def test_gives_up_after_max_retries_with_a_transient_error(echo: SandboxServer) -> None:
    sleeps: list[float] = []
    with pytest.raises(TransientError) as info:
        _client(echo, sleeps).get("/flaky/10/503")
    assert info.value.status_code == 503 and info.value.permanent is False
    assert len(sleeps) == 3
    assert echo.simulator.request_count == 4


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_4xx_is_permanent_and_not_retried(echo: SandboxServer, status: int) -> None:
    sleeps: list[float] = []
    with pytest.raises(IntegrationError) as info:
        _client(echo, sleeps).get(f"/status/{status}")
    assert info.value.permanent is True and info.value.status_code == status
    assert sleeps == [] and echo.simulator.request_count == 1


def test_post_is_not_repeated_on_5xx_but_is_on_429(echo: SandboxServer) -> None:
    sleeps: list[float] = []
    client = _client(echo, sleeps)
    with pytest.raises(TransientError):
        client.post("/flaky/1/500", json={})
    assert echo.simulator.request_count == 1  # a POST may have been applied: never repeated blindly
    assert client.post("/flaky/1/429", json={}).json()["ok"] is True  # a 429 was not processed
    # An idempotent POST (provider de-duplicates by key) is retried like a GET.
    assert client.post("/flaky/1/502", json={}, idempotent=True).json()["ok"] is True


def test_retry_after_header_is_a_floor_for_the_wait(echo: SandboxServer) -> None:
    requests.post(f"{echo.url}/_sandbox/faults", json={"burst_429": 1, "retry_after": 1.5}, timeout=5)
    sleeps: list[float] = []
    _client(echo, sleeps).get("/echo")
    assert sleeps and sleeps[0] >= 1.5


def test_hanging_server_times_out(echo: SandboxServer) -> None:
    requests.post(f"{echo.url}/_sandbox/faults", json={"hang_next": 5, "hang_seconds": 5}, timeout=5)
    client = HttpClient(
        service="echo", base_url=echo.url, timeout=(0.5, 0.3), retry=RetryPolicy(max_retries=1, backoff_base=0.01)
    )
    with pytest.raises(TransientError, match="timeout"):
        client.get("/echo")
    assert echo.simulator.request_count == 2  # two bounded attempts, then it gave up (no wall-clock bound)


def test_connection_refused_is_transient() -> None:
    client = HttpClient(
        service="nowhere", base_url="http://127.0.0.1:9", timeout=(0.5, 0.5), retry=RetryPolicy(max_retries=0)
    )
    with pytest.raises(TransientError, match="connection error"):
        client.get("/x")


def test_request_log_has_no_secrets(echo: SandboxServer, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="core.http")
    sleeps: list[float] = []
    _client(echo, sleeps).get("/echo", params={"token": "tok-very-secret"}, headers={"Authorization": "Bearer abc.def"})
    assert "/echo" in caplog.text
    assert "tok-very-secret" not in caplog.text and "abc.def" not in caplog.text


def test_rate_limiter_hook_runs_before_each_attempt(echo: SandboxServer) -> None:
    calls: list[int] = []
    sleeps: list[float] = []
    client = _client(echo, sleeps, before_request=lambda: calls.append(1))
    client.get("/flaky/2/503")
    assert len(calls) == 3


# --- one client per service and base URL; one retry layer (issue 10) ---------------------------------


def test_one_client_per_service_and_base_url_shared_by_threads() -> None:

    from core.http import http_client

    seen = at_once(lambda _: http_client("registry-test", "http://127.0.0.1:9/api/"), 8)
    assert len({id(client) for client in seen}) == 1
    assert http_client("registry-test", "http://127.0.0.1:9/api") is seen[0]  # same URL, no slash
    assert http_client("registry-test", "http://127.0.0.1:10/api") is not seen[0]
    assert http_client("other-service", "http://127.0.0.1:9/api") is not seen[0]


def test_tbank_and_tmetr_clients_reuse_their_service_connection_pool(settings) -> None:
    from payments.clients.tbank import TBankClient
    from payments.clients.tmetr import TmetrClient

    settings.TBANK_API_URL = "http://127.0.0.1:9/tbank"
    first, second = TBankClient(terminal_key="k", password="p"), TBankClient(terminal_key="k2", password="p2")
    assert first.http is second.http and first.http.session is second.http.session
    assert (
        TmetrClient(base_url="http://127.0.0.1:9/t", token="a").http
        is TmetrClient(base_url="http://127.0.0.1:9/t", token="b").http
    )


def test_http_max_retries_setting_is_the_default(echo: SandboxServer, settings) -> None:
    settings.HTTP_MAX_RETRIES = 1
    client = HttpClient(service="echo", base_url=echo.url, timeout=(1.0, 1.0), sleep=lambda _: None)
    with pytest.raises(TransientError):
        client.get("/flaky/10/503")
    assert echo.simulator.request_count == 2
    settings.HTTP_MAX_RETRIES = 0
    with pytest.raises(TransientError):
        client.get("/flaky/10/503")
    assert echo.simulator.request_count == 3


def test_inside_a_task_with_autoretry_http_calls_are_single_attempts(echo: SandboxServer) -> None:
    """Celery is the one retry layer of such a task: no inner retries multiplied by task retries."""
    from config.celery import app

    client = HttpClient(
        service="echo",
        base_url=echo.url,
        timeout=(1.0, 1.0),
        retry=RetryPolicy(max_retries=3, backoff_base=0.0),
        sleep=lambda _: None,
    )

    @app.task(name="tests.http.with_autoretry", autoretry_for=(TransientError,), max_retries=0)
    def with_autoretry() -> None:
        client.get("/flaky/10/503")

    @app.task(name="tests.http.without_autoretry")
    def without_autoretry() -> None:
        client.get("/flaky/10/503")

    assert with_autoretry.apply().failed()
    assert echo.simulator.request_count == 1  # one attempt; Celery's retry policy takes over
    assert without_autoretry.apply().failed()
    assert echo.simulator.request_count == 1 + 4  # the client's own retries apply
    with pytest.raises(TransientError):
        client.get("/flaky/10/503")  # outside any task: the client's own retries again
    assert echo.simulator.request_count == 5 + 4


def test_a_paced_request_held_up_after_its_grant_is_not_sent_late_but_queued_again(
    echo: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A busy machine can stall a process anywhere between the pacer's grant and the socket. Sent
    anyway, the request reaches the provider right before the next slot's and two crowd its second.
    The deadline is checked as the first byte is about to be written: a late request sends nothing
    and takes the next slot. Measured at the simulator, on the kernel's arrival times."""
    import itertools
    import uuid

    from core.ratelimit import Pacer

    pacer = Pacer(f"test-{uuid.uuid4().hex}", 10.0)  # one every 100 ms; a request must leave within 25 ms
    client = HttpClient(service="echo", base_url=echo.url, before_request=lambda: pacer.acquire(timeout=10))
    real_prepare, stalls = requests.Session.prepare_request, []

    def stall_once(self: requests.Session, request: requests.Request) -> requests.PreparedRequest:
        if len(stalls) == 1:  # the second request: held up 60 ms between its grant and the socket
            time.sleep(0.06)
        stalls.append(1)
        return real_prepare(self, request)

    monkeypatch.setattr(requests.Session, "prepare_request", stall_once)
    for _ in range(4):
        client.get("/echo")
    arrivals = sorted(echo.simulator._request_times)
    assert len(arrivals) == 4 and len(stalls) >= 5  # the held-up request was built again, sent once
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert min(gaps) > 0.1 - 0.025, gaps  # every request left within its slot's 25 ms: never crowded


def test_a_connection_that_opens_slower_than_a_slot_allows_is_kept_for_the_next_slot(
    echo: SandboxServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A TLS handshake to a distant provider can take longer than a slot's allowed lateness (eMAG at
    12/s allows 21 ms). The connection is opened, the request is then too late and sends nothing —
    and the open connection must serve the next slot: closed and opened again on every try, the
    request would be late every time and never sent."""
    import itertools
    import uuid

    from urllib3.connection import HTTPConnection

    from core.ratelimit import Pacer

    pacer = Pacer(f"test-{uuid.uuid4().hex}", 10.0)  # one every 100 ms; a request must leave within 25 ms
    client = HttpClient(service="echo", base_url=echo.url, before_request=lambda: pacer.acquire(timeout=10))
    real_connect, opened = HTTPConnection.connect, []

    def slow_handshake(self: HTTPConnection) -> None:
        time.sleep(0.06)  # longer than the 25 ms a paced request may leave after its slot
        opened.append(1)
        real_connect(self)

    monkeypatch.setattr(HTTPConnection, "connect", slow_handshake)
    for _ in range(3):
        assert client.get("/echo").status_code == 200
    assert echo.simulator.request_count == 3
    assert len(opened) == 1  # one connection, opened once, kept through the late first slot
    # And none was sent late: opened after the check, the first would reach the provider 60 ms into
    # its slot, 40 ms before the second's.
    gaps = [b - a for a, b in itertools.pairwise(sorted(echo.simulator._request_times))]
    assert min(gaps) > 0.1 - 0.025, gaps
