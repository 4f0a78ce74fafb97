"""The account's shared pacer at its real pace (VEN-1): a sync keeps to it at the provider, and the pace
the Vendista client declares holds across processes (issue 22)."""

from __future__ import annotations

import os

import pytest
from django.test import override_settings

from core.models import SyncRun
from tests.support.pacing import assert_paced, grants_across_processes
from vending import services
from vending.models import SyncMode

pytestmark = pytest.mark.django_db


def _most_in_one_second(times: list[float]) -> int:
    return max((sum(1 for t in times if start <= t < start + 1.0) for start in times), default=0)


def test_a_sync_keeps_to_the_accounts_rate_at_the_provider(vendista, make_account) -> None:
    sim, _ = vendista(total=120, terminals=2, start="2026-01-01T00:00:00", days=3)
    # The provider's own gateway refuses a 6th request within any second (429, counted as rejected).
    sim.faults.rate_limit_per_second = 5
    account = make_account(rate_per_second=4.0)
    services.account_limiter(account).reset()
    # Entered after the fixture's own override so the two unwind in order (no leak into later tests).
    with override_settings(VENDISTA_PAGE_SIZE=10, VENDISTA_INGEST_BATCH=20):
        run = services.transactions_sync(run=services.sync_request(account=account, mode=SyncMode.FULL, enqueue=False))
    assert run.status == SyncRun.Status.SUCCEEDED and run.items_done == 120
    times = sorted(sim._request_times)
    assert len(times) >= 12  # 12 pages (and the terminals)
    assert sim.rejected_count == 0
    assert _most_in_one_second(times) <= 5  # 4/s granted; one more for network jitter at the window edge


def test_the_declared_vendista_pace_holds_across_two_processes(settings) -> None:
    """Two worker processes syncing one account at the default rate (1/s): one grant a second between them."""
    slots, rate = grants_across_processes(
        "vending.clients.vendista:pacer",
        account_id=10**9 + os.getpid(),
        rate_per_second=settings.VENDISTA_RATE_PER_SECOND,
        grants=2,
    )
    assert rate == settings.VENDISTA_RATE_PER_SECOND == 1.0
    assert_paced(slots, rate)
