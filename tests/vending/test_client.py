"""Vendista client against the simulator: paging, token refresh, 402, retries (SPEC VEN-1, REL-4)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests
from django.test import override_settings

from core.exceptions import TransientError
from core.http import HttpClient, RetryPolicy
from sandbox.vendista import SANDBOX_LOGIN, SANDBOX_PASSWORD, VendistaSimulator
from vending.clients.vendista import (
    AuthenticationFailed,
    SubscriptionUnpaid,
    VendistaClient,
    parse_transaction,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "vendista"


def make_client(url: str, *, page_size: int = 50, retries: int = 3, **kwargs: object) -> VendistaClient:
    http = HttpClient(
        service="vendista", base_url=url, retry=RetryPolicy(max_retries=retries, backoff_base=0.01), timeout=(1.0, 0.5)
    )
    return VendistaClient(
        base_url=url, login=SANDBOX_LOGIN, password=SANDBOX_PASSWORD, page_size=page_size, http=http, **kwargs
    )  # type: ignore[arg-type]


def test_captured_item_parses_typed_fields_and_keeps_raw() -> None:
    page = json.loads((FIXTURES / "transactions_page.json").read_text())
    sale, refund = (parse_transaction(item) for item in page["items"])
    assert (sale.id, sale.term_id, sale.sum, sale.machine_item_id) == (100000012, 1003, 15000, 3)
    assert sale.time.isoformat() == "2026-01-05T06:50:28.236000" and sale.time.tzinfo is None
    assert sale.card_number == "220220******1234" and not sale.is_refund
    assert refund.is_refund and refund.reverse_id == 100000012
    assert sale.raw["rrn"] == "000123456789"


def test_server_ignores_limit_offset_and_defaults_to_50(sandbox) -> None:
    server = sandbox(VendistaSimulator(total=120))
    token = requests.get(
        f"{server.url}/token", params={"login": SANDBOX_LOGIN, "password": SANDBOX_PASSWORD}, timeout=5
    ).json()["token"]
    body = requests.get(
        f"{server.url}/transactions", params={"token": token, "limit": 1000, "offset": 100}, timeout=5
    ).json()
    assert body["items_per_page"] == 50 and len(body["items"]) == 50 and body["items_count"] == 120
    assert body["items"][0]["id"] == 100_000_000  # offset ignored too


def test_paging_reads_every_page_to_the_last_one(sandbox) -> None:
    sim = VendistaSimulator(total=123)
    server = sandbox(sim)
    client = make_client(server.url, page_size=20)
    pages = list(client.iter_transaction_pages())
    assert [len(p.items) for p in pages] == [20] * 6 + [3]
    ids = [t.id for p in pages for t in p.items]
    assert ids == sorted(set(ids)) and len(ids) == 123
    # Exactly full last page: the items_count rule stops without asking for an empty page.
    sim.total = 120
    before = sim.request_count
    assert sum(len(p.items) for p in client.iter_transaction_pages()) == 120
    assert sim.request_count - before == 6


def test_date_range_filters_are_sent_in_vendista_format(sandbox) -> None:
    sim = VendistaSimulator(total=1000, start="2026-01-01T00:00:00", days=10)
    server = sandbox(sim)
    client = make_client(server.url, page_size=1000)
    from datetime import datetime

    page = client.transactions_page(page=1, date_from=datetime(2026, 1, 3), date_to=datetime(2026, 1, 4, 23, 59, 59))
    assert 150 <= page.items_count <= 250
    assert all(datetime(2026, 1, 3) <= t.time < datetime(2026, 1, 5) for t in page.items)


def test_expired_token_is_refreshed_once_from_the_login(sandbox) -> None:
    sim = VendistaSimulator(total=10)
    server = sandbox(sim)
    seen: list[str] = []
    client = make_client(server.url, on_token=seen.append)
    assert client.connection_test() == 10
    assert sim.state["logins"] == 1
    sim.expire_tokens()
    assert client.connection_test() == 10
    assert sim.state["logins"] == 2 and len(seen) == 2 and seen[0] != seen[1]
    sim.state["bad_token_status"] = 404  # some deployments answer 404 for a bad token
    sim.expire_tokens()
    assert client.connection_test() == 10 and sim.state["logins"] == 3


def test_wrong_login_is_a_permanent_authentication_error(sandbox) -> None:
    server = sandbox(VendistaSimulator(total=10))
    client = make_client(server.url)
    client.password = "wrong"
    with pytest.raises(AuthenticationFailed) as info:
        client.connection_test()
    assert info.value.permanent


def test_unpaid_subscription_is_a_typed_permanent_error(sandbox) -> None:
    sim = VendistaSimulator(total=10)
    server = sandbox(sim)
    sim.set_unpaid(True)
    with pytest.raises(SubscriptionUnpaid) as info:
        make_client(server.url).connection_test()
    assert info.value.status_code == 402 and info.value.permanent and info.value.code == "subscription_unpaid"


def test_5xx_and_429_are_retried(sandbox) -> None:
    sim = VendistaSimulator(total=10)
    server = sandbox(sim)
    client = make_client(server.url)
    client.fetch_token()
    sim.faults.burst_429 = 2
    assert client.connection_test() == 10
    sim.faults.error_rate, sim.faults.error_status = 1.0, 503
    with pytest.raises(TransientError):
        client.connection_test()
    requests_before = sim.request_count
    with pytest.raises(TransientError):
        client.connection_test()
    assert sim.request_count - requests_before == 4  # first try + 3 retries


@override_settings(HTTP_READ_TIMEOUT=0.5)
def test_a_hung_request_times_out_and_is_retried(sandbox) -> None:
    sim = VendistaSimulator(total=10)
    server = sandbox(sim)
    client = make_client(server.url)
    client.fetch_token()
    sim.faults.hang_next, sim.faults.hang_seconds = 1, 2.0
    assert client.connection_test() == 10


def test_terminals_list(sandbox) -> None:
    server = sandbox(VendistaSimulator(total=10, terminals=7))
    terminals = make_client(server.url, page_size=3).terminals()
    assert [t.id for t in terminals] == list(range(1000, 1007))
    assert terminals[0].comment and terminals[0].serial_number
