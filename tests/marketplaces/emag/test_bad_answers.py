"""A 2xx that is not a usable answer is transient by its content (SPEC MKT-4, REL-4; issue 20 point 2):
an HTML page instead of the envelope, or ``isError: true`` saying only that eMAG failed, is retried
with the same backoff as a 5xx, each attempt through the pacer; a validation error is not."""

from __future__ import annotations

import pytest
from django.test import override_settings

from core.models import SyncRun
from marketplaces.emag.clients.emag import EmagServerError, EmagValidationError
from marketplaces.emag.services import orders
from marketplaces.emag.services.accounts import account_client
from sandbox.harness import json_response

pytestmark = pytest.mark.django_db
BASE = 0.01  # EMAG_BACKOFF_BASE_SECONDS in these tests


def assert_backoff(sleeps: list[float]) -> None:
    for n, wait in enumerate(sleeps):
        assert BASE * 2**n / 2 <= wait <= BASE * 2**n


def test_a_200_html_page_is_retried_with_backoff_and_the_call_succeeds(emag, make_account) -> None:  # type: ignore[no-untyped-def]
    sim = emag(orders=2)
    sleeps: list[float] = []
    client = account_client(account=make_account(sim), sleep=sleeps.append)
    before = sim.requests_received()
    sim.faults.html_next = 2
    assert len(client.orders_read()) == 2
    assert sim.requests_received() - before == 3 and len(sleeps) == 2
    assert_backoff(sleeps)


def test_a_200_internal_error_please_retry_is_retried_and_the_call_succeeds(emag, make_account) -> None:  # type: ignore[no-untyped-def]
    sim = emag(orders=1)
    sleeps: list[float] = []
    client = account_client(account=make_account(sim), sleep=sleeps.append)
    before = sim.requests_received()
    sim.internal_error_next = 3
    assert client.orders_count() == 1
    assert sim.requests_received() - before == 4 and len(sleeps) == 3
    assert_backoff(sleeps)


def test_bad_answers_that_persist_end_as_a_transient_server_error_after_the_retries(emag, make_account) -> None:  # type: ignore[no-untyped-def]
    sim = emag()
    sleeps: list[float] = []
    with override_settings(EMAG_MAX_RETRIES=2):
        client = account_client(account=make_account(sim), sleep=sleeps.append)
        before = sim.requests_received()
        sim.internal_error_next = 50
        with pytest.raises(EmagServerError) as caught:
            client.orders_count()
        assert not caught.value.permanent and caught.value.messages == ["Internal error, please retry"]
        assert sim.requests_received() - before == 3 and len(sleeps) == 2
        sim.internal_error_next, sim.faults.html_next = 0, 50
        with pytest.raises(EmagServerError) as html:
            client.orders_count()
        assert not html.value.permanent


def test_a_200_validation_error_is_not_retried(emag, make_account) -> None:  # type: ignore[no-untyped-def]
    sim = emag(orders=1)
    sim.add_route(
        "POST",
        r"/order/count",
        lambda r: json_response({"isError": True, "messages": ["status: invalid value 9"], "results": []}),
    )
    sim._routes.insert(0, sim._routes.pop())
    sleeps: list[float] = []
    client = account_client(account=make_account(sim), sleep=sleeps.append)
    before = sim.requests_received()
    with pytest.raises(EmagValidationError) as caught:
        client.orders_count(status=9)
    assert sim.requests_received() - before == 1 and sleeps == []
    assert caught.value.permanent and caught.value.messages == ["status: invalid value 9"]


def test_an_orders_sync_finishes_through_an_html_page_and_an_internal_error(emag, make_account) -> None:  # type: ignore[no-untyped-def]
    sim = emag(orders=3)
    account = make_account(sim)
    sim.faults.html_next = 1
    sim.internal_error_next = 1
    run = orders.orders_sync(account=account, client=account_client(account=account, sleep=lambda s: None))
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert account.orders.count() == 3
