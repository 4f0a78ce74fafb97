"""A Vendista page that answers 200 with an HTML body (a proxy's error page in front of the API) is a
transient error: retried by the client, then by the sync task — never a failed sync (issue 9)."""

from __future__ import annotations

import pytest
import time_machine

from core.exceptions import TransientError
from core.http import HttpClient, RetryPolicy
from core.models import SyncRun
from sandbox.vendista import SANDBOX_LOGIN, SANDBOX_PASSWORD, VendistaSimulator
from vending import services
from vending.clients.vendista import NotAnApiAnswer, VendistaClient
from vending.models import SyncMode, Transaction


def _client(url: str) -> VendistaClient:
    http = HttpClient(
        service="vendista", base_url=url, retry=RetryPolicy(max_retries=3, backoff_base=0.01), timeout=(1.0, 2.0)
    )
    return VendistaClient(base_url=url, login=SANDBOX_LOGIN, password=SANDBOX_PASSWORD, page_size=50, http=http)


def test_a_few_html_pages_are_retried_and_the_call_succeeds(sandbox) -> None:
    sim = VendistaSimulator(total=10)
    client = _client(sandbox(sim).url)
    client.fetch_token()
    sim.faults.html_next = 2
    before = sim.request_count
    assert client.connection_test() == 10
    assert sim.request_count - before == 3


def test_html_pages_that_persist_are_a_transient_error_not_a_permanent_one(sandbox) -> None:
    sim = VendistaSimulator(total=10)
    client = _client(sandbox(sim).url)
    client.fetch_token()
    sim.faults.html_next = 100
    with pytest.raises(NotAnApiAnswer) as info:
        client.connection_test()
    assert isinstance(info.value, TransientError) and not info.value.permanent
    sim.faults.html_next = 100
    with pytest.raises(TransientError):
        _client(sandbox(sim).url).fetch_token()  # the login's /token call too


@pytest.mark.django_db
@time_machine.travel("2026-01-20 12:00:00+03:00", tick=True)
def test_a_sync_behind_an_html_error_page_is_left_for_the_retry_and_then_succeeds(vendista, make_account) -> None:
    sim, url = vendista(total=120, start="2026-01-01T00:00:00", days=10)
    account = make_account()
    sim.faults.html_next = 1000
    run = services.sync_request(account=account, mode=SyncMode.FULL, enqueue=False)
    with pytest.raises(TransientError):  # the task's autoretry_for
        services.transactions_sync(run=run, base_url=url)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RETRYING, run.error  # before issue 9: FAILED ("not JSON")
    sim.faults.html_next = 0
    run = services.transactions_sync(run=run, base_url=url)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert Transaction.objects.count() == 120
