"""The eMAG client: envelope, typed errors, paging, backoff on retryable errors only (MKT-2, MKT-4)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from django.test import override_settings

from marketplaces.emag.clients import emag as client_module
from marketplaces.emag.clients.emag import (
    EmagAuthError,
    EmagRateLimitError,
    EmagServerError,
    EmagTimeoutError,
    EmagValidationError,
    date_windows,
)
from marketplaces.emag.services.accounts import account_client
from sandbox.harness import Response, json_response

pytestmark = pytest.mark.django_db


def test_pages_through_orders_from_page_one(emag, make_account) -> None:
    sim = emag(orders=23)
    client = account_client(account=make_account(sim))
    seen = list(client.orders_iter(per_page=10))
    assert [o["id"] for o in seen] == sorted(sim.state["orders"])
    assert client.orders_count() == 23


def test_is_error_true_on_http_200_is_a_failure(emag, make_account) -> None:
    sim = emag(orders=1)
    client = account_client(account=make_account(sim))
    with pytest.raises(EmagValidationError) as caught:
        client.orders_read(page=0)  # eMAG pages start at 1
    assert caught.value.status_code == 200
    assert "currentPage" in caught.value.messages[0]


def test_an_answer_without_is_error_false_is_a_failure(emag, make_account) -> None:
    sim = emag()
    sim.add_route("POST", r"/order/count", lambda r: json_response({"results": {"noOfItems": 3}}))
    sim._routes.insert(0, sim._routes.pop())  # the override wins over the real route
    with pytest.raises(EmagValidationError):
        account_client(account=make_account(sim)).orders_count()


def test_bad_credentials_are_an_auth_error_not_retried(emag, make_account) -> None:
    sim = emag()
    account = make_account(sim)
    account.api_password = "wrong"
    before = sim.requests_received()
    with pytest.raises(EmagAuthError):
        account_client(account=account).orders_count()
    assert sim.requests_received() - before == 1


def test_429_and_5xx_are_retried_with_growing_backoff(emag, make_account) -> None:
    sim = emag(orders=2)
    sleeps: list[float] = []
    client = account_client(account=make_account(sim), sleep=sleeps.append)
    sim.faults.burst_429 = 2
    assert len(client.orders_read()) == 2
    sim.faults.error_rate, sim.faults.error_status = 1.0, 503
    with pytest.raises(EmagServerError):
        client.orders_read()
    # 2 waits for the 429s, then 6 for the 503s: base·2ⁿ with jitter in [half, full], n = 0 … 5.
    base = 0.01
    assert len(sleeps) == 2 + 6
    for n, wait in enumerate(sleeps[2:]):
        assert base * 2**n / 2 <= wait <= base * 2**n
    assert sleeps[2 + 5] > sleeps[2]  # grows to 32× the first ceiling (64 s with the 2 s default)


def test_a_4xx_validation_error_is_not_retried(emag, make_account) -> None:
    sim = emag(orders=1)
    sim.add_route(
        "POST",
        r"/order/count",
        lambda r: Response(status=400, body={"isError": True, "messages": ["status: invalid value"], "results": []}),
    )
    sim._routes.insert(0, sim._routes.pop())
    sleeps: list[float] = []
    client = account_client(account=make_account(sim), sleep=sleeps.append)
    before = sim.requests_received()
    with pytest.raises(EmagValidationError) as caught:
        client.orders_count(status=9)
    assert sim.requests_received() - before == 1 and sleeps == []
    assert caught.value.messages == ["status: invalid value"] and caught.value.permanent


def test_rate_limit_persisting_after_retries_is_typed(emag, make_account) -> None:
    sim = emag()
    sim.faults.burst_429 = 50
    with override_settings(EMAG_MAX_RETRIES=2), pytest.raises(EmagRateLimitError) as caught:
        account_client(account=make_account(sim), sleep=lambda s: None).orders_count()
    assert not caught.value.permanent


def test_empty_3_second_budget_pauses_the_route_class_for_every_process(emag, make_account) -> None:
    sim = emag(orders=1)
    sim.add_route(
        "POST",
        r"/order/count",
        lambda r: json_response(
            {"isError": False, "messages": [], "results": {"noOfItems": 1}}, **{"X-RateLimit-Remaining-3second": "0"}
        ),
    )
    sim._routes.insert(0, sim._routes.pop())
    account = make_account(sim)
    client = account_client(account=account)
    client.orders_count()
    pause = client_module.shared_redis().pttl(client._pause_key("orders"))
    assert 0 < pause <= 84  # one slot of 12/s


def test_date_filters_are_emag_local_time_and_windows_span_at_most_a_month() -> None:
    start = datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))
    windows = list(date_windows(start, start + timedelta(days=70)))
    assert windows[0][0] == start and windows[-1][1] == start + timedelta(days=70)
    assert all(b - a <= timedelta(days=28) for a, b in windows)
    assert client_module.emag_datetime(start) == "2026-01-01 02:00:00"  # Europe/Bucharest, winter


def test_timeouts_are_retried_then_typed(emag, make_account) -> None:
    sim = emag()
    sim.faults.hang_next, sim.faults.hang_seconds = 2, 1.0
    sleeps: list[float] = []
    with override_settings(HTTP_READ_TIMEOUT=0.2, EMAG_MAX_RETRIES=1):
        client = account_client(account=make_account(sim), sleep=sleeps.append)
        with pytest.raises(EmagTimeoutError) as caught:
            client.orders_count()
    assert len(sleeps) == 1 and not caught.value.permanent


def test_the_simulator_refuses_more_than_12_order_requests_per_second(emag, make_account) -> None:
    sim = emag()
    account = make_account(sim)
    session = requests.Session()
    url = f"{sim.base_url}/order/count"
    statuses = []
    started = time.time()
    while len(statuses) < 40 and time.time() - started < 0.9:
        statuses.append(session.post(url, json={}, auth=(account.api_user, account.api_password)).status_code)
    if int(time.time()) == int(started):  # all in one clock second (almost always)
        assert statuses.count(200) == 12
    assert statuses.count(429) == sim.violations > 0
    response = session.post(url, json={}, auth=(account.api_user, account.api_password))
    if response.status_code == 429:
        assert response.json()["isError"] is True
