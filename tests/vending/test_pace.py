"""The shared rate limiter at the account's real pace (VEN-1): every other vending test account runs
at 1,000 requests/s, so only this test fails if the limiter hook is taken out of the client."""

from __future__ import annotations

import pytest
from django.test import override_settings

from core.models import SyncRun
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
