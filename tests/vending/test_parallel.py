"""The parallel page writers (committed data: ``transactional_db``), incl. a run dying half-way."""

from __future__ import annotations

import pytest
import time_machine
from django.db.models import Count
from django.test import override_settings

from core.exceptions import TransientError
from core.models import SyncRun
from tests.vending.conftest import MANY_PAGES_RATE
from tests.vending.test_sync import START, DyingVendista
from vending import services
from vending.models import DailyRollup, SyncMode, Transaction

pytestmark = pytest.mark.django_db(transaction=True)


def assert_consistent(total: int) -> None:
    assert Transaction.objects.count() == total
    assert not Transaction.objects.values("term_id", "vendista_id").annotate(n=Count("id")).filter(n__gt=1)
    gross = sum(Transaction.objects.filter(is_refund=False).values_list("sum_minor", flat=True))
    refunds = Transaction.objects.filter(is_refund=True).count()
    assert sum(DailyRollup.objects.values_list("revenue_gross", flat=True)) == gross
    assert sum(DailyRollup.objects.values_list("refunds_count", flat=True)) == refunds


@override_settings(VENDISTA_PAGE_SIZE=50, VENDISTA_INGEST_BATCH=100, VENDISTA_INGEST_WRITERS=3)
@time_machine.travel("2026-01-20 12:00:00+03:00", tick=True)
def test_parallel_writers_store_everything_once(sandbox, make_account) -> None:
    sim = DyingVendista(total=1234, terminals=4, start=START, days=10)
    sim.dying = False
    server = sandbox(sim)
    account = make_account(rate_per_second=MANY_PAGES_RATE)  # dozens of pages; the pace is test_pace.py's
    run = services.sync_request(account=account, mode=SyncMode.FULL, enqueue=False)
    run = services.transactions_sync(run=run, base_url=server.url)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.items_done, run.items_total, run.params["next_page"]) == (1234, 1234, 26)
    assert run.counters["pages"] == 25 and run.counters["inserted"] == 1234
    assert_consistent(1234)


@override_settings(VENDISTA_PAGE_SIZE=50, VENDISTA_INGEST_BATCH=100, VENDISTA_INGEST_WRITERS=3)
@time_machine.travel("2026-01-20 12:00:00+03:00", tick=True)
def test_parallel_run_dying_half_way_resumes_without_duplicates(sandbox, make_account) -> None:
    sim = DyingVendista(total=1000, terminals=3, start=START, days=10)
    sim.die_at = 9
    server = sandbox(sim)
    account = make_account(rate_per_second=MANY_PAGES_RATE)  # dozens of pages; the pace is test_pace.py's
    run = services.sync_request(account=account, mode=SyncMode.FULL, enqueue=False)
    with pytest.raises(TransientError):
        services.transactions_sync(run=run, base_url=server.url)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RETRYING and 1 < run.params["next_page"] <= 9
    sim.dying = False
    run = services.transactions_sync(run=run, base_url=server.url)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert run.items_done == 1000
    assert_consistent(1000)
