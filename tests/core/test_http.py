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


@pytest.fixture
def echo(sandbox: Callable[[EchoSimulator], SandboxServer]) -> SandboxServer:
    return sandbox(EchoSimulator())


def _client(server: SandboxServer, sleeps: list[float], **kwargs: object) -> HttpClient:
    return HttpClient(service="echo", base_url=server.url, timeout=(1.0, 1.0),
                      retry=RetryPolicy(max_retries=3, backoff_base=0.1, backoff_max=2.0),
                      sleep=sleeps.append, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_get_is_retried_on_429_and_5xx_with_growing_backoff(echo: SandboxServer, status: int) -> None:
    sleeps: list[float] = []
    response = _client(echo, sleeps).get(f"/flaky/3/{status}")
    assert response.json() == {"ok": True, "calls": 4}
    assert len(sleeps) == 3
    # Full jitter within [ceiling/2, ceiling], ceiling doubling: 0.1, 0.2, 0.4.
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
    client = HttpClient(service="echo", base_url=echo.url, timeout=(0.5, 0.3),
                        retry=RetryPolicy(max_retries=1, backoff_base=0.01))
    started = time.monotonic()
    with pytest.raises(TransientError, match="timeout"):
        client.get("/echo")
    assert time.monotonic() - started < 3  # two bounded attempts, not a hang


def test_connection_refused_is_transient() -> None:
    client = HttpClient(service="nowhere", base_url="http://127.0.0.1:9", timeout=(0.5, 0.5),
                        retry=RetryPolicy(max_retries=0))
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
