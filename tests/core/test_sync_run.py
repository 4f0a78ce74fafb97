"""The SyncRun helpers every sync calls (``core.services`` is the only writer of ``SyncRun``)."""

from __future__ import annotations

import pytest

from core.models import SyncRun
from core.services import (
    SYNC_RUN_STATUS,
    sync_run_checkpoint,
    sync_run_create,
    sync_run_finish,
    sync_run_note,
    sync_run_progress,
    sync_run_start,
)
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def _run(**fields: object) -> SyncRun:
    return sync_run_create(merchant=MerchantFactory(), kind="test.sync", account_ref="7", mode="full", **fields)


def test_successful_run_records_progress_and_counters() -> None:
    run = _run()
    assert sync_run_start(run=run)
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING
    for _ in range(3):
        sync_run_progress(run=run, done=100, total=300)
        # Progress is visible to other readers while the run is still going.
        assert SyncRun.objects.get(pk=run.pk).items_done == run.items_done
    sync_run_checkpoint(run=run, params={"next_page": 4})
    assert sync_run_finish(run=run, counters={"pages": 3})
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == SyncRun.Status.SUCCEEDED
    assert (stored.items_done, stored.items_total, stored.progress_percent) == (300, 300, 100.0)
    assert stored.params == {"next_page": 4} and stored.counters == {"pages": 3}
    assert stored.started_at and stored.finished_at and stored.finished_at >= stored.started_at
    assert stored.account_ref == "7" and stored.mode == "full"


def test_a_run_without_a_total_gets_its_done_count_as_total() -> None:
    run = _run()
    sync_run_start(run=run)
    sync_run_progress(run=run, done=42)
    sync_run_finish(run=run)
    assert SyncRun.objects.get(pk=run.pk).items_total == 42


def test_failed_run_keeps_the_error_and_progress() -> None:
    run = _run()
    sync_run_start(run=run)
    sync_run_progress(run=run, done=5, total=10)
    sync_run_note(run=run, error="retrying: upstream slow", counters={"pages": 1})
    assert SyncRun.objects.get(pk=run.pk).status == SyncRun.Status.RUNNING  # left for the retry
    sync_run_finish(run=run, error="RuntimeError: upstream went away", counters={"seconds": 1})
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == SyncRun.Status.FAILED
    assert "upstream went away" in stored.error
    assert stored.items_done == 5 and stored.items_total == 10
    assert stored.counters == {"pages": 1, "seconds": 1}


def test_a_finished_run_is_neither_restarted_nor_finished_again() -> None:
    run = _run()
    sync_run_start(run=run)
    assert sync_run_finish(run=run)
    assert not sync_run_start(run=run)
    assert not sync_run_finish(run=run, error="late failure")
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == SyncRun.Status.SUCCEEDED and stored.error == ""
    assert SYNC_RUN_STATUS.terminal == {SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED}


def test_a_resumed_run_restarts_from_its_checkpoint_count() -> None:
    run = _run()
    sync_run_start(run=run)
    sync_run_progress(run=run, done=70)  # 70 written, but only 50 behind the checkpoint
    sync_run_checkpoint(run=run, params={"next_page": 2, "done": 50})
    assert sync_run_start(run=run, done=50)  # running → running: a resume after the worker died
    assert SyncRun.objects.get(pk=run.pk).items_done == 50


def test_concurrent_progress_reports_do_not_lose_counts() -> None:
    run = _run()
    twin = SyncRun.objects.get(pk=run.pk)  # a second process's copy of the same row
    sync_run_progress(run=run, done=10)
    sync_run_progress(run=twin, done=7)
    assert SyncRun.objects.get(pk=run.pk).items_done == 17
