from __future__ import annotations

import pytest

from core.models import SyncRun
from core.services import sync_run
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def test_successful_run_records_progress_and_counters() -> None:
    merchant = MerchantFactory()
    with sync_run(merchant=merchant, kind="test.sync", account_ref="7", mode="full") as run:
        assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING
        run.set_total(300)
        for _ in range(3):
            run.advance(100)
            # Progress is visible to other readers while the run is still going.
            assert SyncRun.objects.get(pk=run.pk).items_done == run.items_done
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == SyncRun.Status.SUCCEEDED
    assert (stored.items_done, stored.items_total, stored.progress_percent) == (300, 300, 100.0)
    assert stored.started_at and stored.finished_at and stored.finished_at >= stored.started_at
    assert stored.account_ref == "7" and stored.mode == "full"


def test_failed_run_keeps_the_error_and_reraises() -> None:
    merchant = MerchantFactory()
    with pytest.raises(RuntimeError), sync_run(merchant=merchant, kind="test.sync") as run:
        run.advance(5, total=10)
        raise RuntimeError("upstream went away")
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == SyncRun.Status.FAILED
    assert "upstream went away" in stored.error
    assert stored.items_done == 5 and stored.items_total == 10


def test_concurrent_advances_do_not_lose_counts() -> None:
    merchant = MerchantFactory()
    run = SyncRun.objects.create(merchant=merchant, kind="test.sync")
    twin = SyncRun.objects.get(pk=run.pk)  # a second process's copy of the same row
    run.advance(10)
    twin.advance(7)
    assert SyncRun.objects.get(pk=run.pk).items_done == 17
