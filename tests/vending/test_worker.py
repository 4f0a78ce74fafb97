"""Syncs through a real Celery worker on the real Redis broker, including a worker killed mid-run (VEN-3, REL-4)."""

from __future__ import annotations

import re

import pytest
from django.db.models import Count

from core.models import SyncRun
from sandbox.vendista import VendistaSimulator
from tests.factories import owner_client
from tests.support.simulators import simulator_env
from tests.support.waiting import wait_for
from tests.vending.conftest import MANY_PAGES_RATE
from tests.vending.test_sync import DyingVendista
from vending import services
from vending.models import DailyRollup, SyncMode, Transaction
from vending.tasks import sync_run_execute

pytestmark = pytest.mark.slow


def test_api_sync_runs_on_a_real_worker_and_feeds_the_report(sandbox, start_worker, make_account) -> None:
    sim = VendistaSimulator(total=800, terminals=3, start="2026-01-01T00:00:00", days=5)
    sandbox(sim)
    worker = start_worker(queues="sync,default", extra_env=simulator_env(sim))
    client, _, merchant = owner_client()
    make_account(merchant)
    response = client.post("/api/v1/vending/sync", {"date_from": "2026-01-01", "date_to": "2026-01-10"}, format="json")
    assert response.status_code in (200, 202), response.content
    run_id = response.json()["run_id"]
    run = wait_for(lambda: SyncRun.objects.filter(pk=run_id, status__in=["succeeded", "failed"]).first(), timeout=60)
    assert run.status == "succeeded", (run.error, worker.log())
    assert run.items_done == run.items_total == 800
    report = client.get("/api/v1/vending/reports/daily", {"date_from": "2026-01-01", "date_to": "2026-01-10"}).json()
    expected = sum(Transaction.objects.filter(is_refund=False).values_list("sum_minor", flat=True))
    assert report["totals"]["revenue_gross"] == expected > 0


def test_sync_post_waits_for_a_quick_run_on_a_real_worker(sandbox, start_worker, make_account, settings) -> None:
    """The API waits (VENDISTA_API_SYNC_WAIT_SECONDS) for a run a real worker finishes, and answers 200
    with its numbers instead of 202: the waiting loop itself runs, nothing is patched."""
    sim = VendistaSimulator(total=300, terminals=3, start="2026-01-01T00:00:00", days=10)
    sandbox(sim)
    start_worker(queues="sync,default", extra_env=simulator_env(sim))
    settings.VENDISTA_API_SYNC_WAIT_SECONDS = 60  # generous: a loaded machine; the run itself takes ~1 s
    client, _, merchant = owner_client()
    make_account(merchant)
    response = client.post("/api/v1/vending/sync", {"date_from": "2026-01-01", "date_to": "2026-01-10"}, format="json")
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True and body["transactions_synced"] == 300 and "300" in body["message"]
    assert SyncRun.objects.get(pk=body["run_id"]).status == SyncRun.Status.SUCCEEDED


# A visibility timeout of a few seconds (production: 600 s) and steps, leases and restore sweeps scaled
# to it (soft limit of a step 3 s, leaving a loaded machine room): a sync of 60 pages at 300 ms each
# outlives the timeout three times over.
VISIBILITY_TIMEOUT = 6
SHORT_TIMEOUT = {
    "CELERY_VISIBILITY_TIMEOUT": str(VISIBILITY_TIMEOUT),
    "CELERY_UNACKED_RESTORE_INTERVAL": "1",
    "CELERY_UNACKED_RESTORE_THROTTLE": "1",
    "SYNC_STEP_SECONDS": "0.5",
    "SYNC_LEASE_SECONDS": "1.5",
    "VENDISTA_PAGE_SIZE": "50",
    "VENDISTA_INGEST_BATCH": "100",
}
TASK_DONE = re.compile(r"Task vending\.tasks\.sync_run_execute\[[^\]]+\] succeeded in ([0-9.]+)s")


def assert_stored_once(account, total: int) -> None:  # type: ignore[no-untyped-def]
    assert Transaction.objects.filter(account=account).count() == total
    assert not Transaction.objects.values("term_id", "vendista_id").annotate(n=Count("id")).filter(n__gt=1)
    expected = sum(Transaction.objects.filter(is_refund=False).values_list("sum_minor", flat=True))
    assert sum(DailyRollup.objects.values_list("revenue_gross", flat=True)) == expected


def test_a_sync_longer_than_several_visibility_timeouts_runs_once_at_a_time(
    sandbox, start_worker, make_account
) -> None:
    """Before issue 19 the one message of this sync was handed out again after 6 s while the first
    worker process was still on it: two crawls at once, pages read twice, counters doubled."""
    sim = VendistaSimulator(total=3000, terminals=3, start="2026-01-01T00:00:00", days=5)
    sim.faults.latency_ms = 300  # 60 pages × 300 ms = 18 s = 3 visibility timeouts
    sandbox(sim)
    worker = start_worker(queues="sync,default", concurrency=2, extra_env={**SHORT_TIMEOUT, **simulator_env(sim)})
    account = make_account(rate_per_second=MANY_PAGES_RATE)  # dozens of pages; the pace is test_pace.py's
    run = services.sync_request(account=account, mode=SyncMode.FULL)  # autocommit: enqueued at once
    sync_run_execute.delay(run.pk)  # a duplicate delivery of the first message: it must find the lease taken
    run = wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(), timeout=120)
    assert run.status == "succeeded", (run.error, worker.log())
    assert sim.state["max_inflight"] == 1  # one execution at any moment
    assert sim.state["page_reads"] == dict.fromkeys(range(1, 61), 1)  # each page read once
    assert (run.items_done, run.items_total) == (3000, 3000)
    assert (run.counters["received"], run.counters["inserted"], run.counters["pages"]) == (3000, 3000, 60)
    assert_stored_once(account, 3000)
    durations = [float(d) for d in TASK_DONE.findall(worker.full_log())]
    assert len(durations) >= 6 and run.counters["steps"] >= 6  # a chain of steps, not one long message
    print(f"\nvending sync of 60 pages: {len(durations)} step messages, longest {max(durations):.2f} s")
    assert max(durations) < VISIBILITY_TIMEOUT  # none outlived the visibility timeout


def test_worker_killed_half_way_is_resumed_without_duplicates(sandbox, start_worker, make_account) -> None:
    """SIGKILL of the whole worker mid-run: its lease expires, the message comes back after the
    visibility timeout and a new worker resumes from the checkpoint; no sweep is needed."""
    sim = VendistaSimulator(total=3000, terminals=3, start="2026-01-01T00:00:00", days=5)
    sim.faults.latency_ms = 150
    sandbox(sim)
    env = {**SHORT_TIMEOUT, **simulator_env(sim)}
    first = start_worker(queues="sync,default", extra_env=env)
    account = make_account(rate_per_second=MANY_PAGES_RATE)  # dozens of pages; the pace is test_pace.py's
    run = services.sync_request(account=account, mode=SyncMode.FULL)  # autocommit: enqueued at once
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).items_done >= 1000, timeout=60, interval=0.05)
    first.kill()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING and run.items_done < 3000
    checkpoint = run.params["next_page"]
    assert checkpoint > 1
    sim.faults.latency_ms = 0
    second = start_worker(queues="sync,default", extra_env=env, purge=False)
    run = wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(), timeout=90)
    assert run.status == "succeeded", (run.error, second.log())
    reads = sim.state["page_reads"]
    assert sorted(reads) == list(range(1, 61)) and max(reads.values()) <= 2, reads  # each page at most twice
    assert all(reads[page] == 1 for page in range(1, checkpoint))  # behind the checkpoint: never again
    assert (run.counters["received"], run.counters["pages"]) == (3000, 60)  # counted once
    assert_stored_once(account, 3000)


def test_a_transient_failure_on_a_real_worker_is_retrying_and_its_retry_ends_the_run_done(
    sandbox, start_worker, make_account
) -> None:
    """Issue 19 point 2: before, the failure marked the run failed, the task's autoretry carried on
    and the run stayed failed with the old error while its rows were imported."""
    sim = DyingVendista(total=1000, terminals=3, start="2026-01-01T00:00:00", days=5)  # 503 from page 4 on
    sandbox(sim)
    worker = start_worker(queues="sync,default", extra_env={**SHORT_TIMEOUT, **simulator_env(sim)})
    account = make_account(rate_per_second=MANY_PAGES_RATE)  # dozens of pages; the pace is test_pace.py's
    run = services.sync_request(account=account, mode=SyncMode.FULL)  # autocommit: enqueued at once
    retrying = wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RETRYING).first(), 60)
    assert "503" in retrying.error and retrying.attempts >= 1
    sim.dying = False
    run = wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(), timeout=60)
    assert run.status == "succeeded" and run.error == "", (run.error, worker.log())
    assert (run.items_done, run.counters["received"], run.counters["pages"]) == (1000, 1000, 20)  # counted once
    assert_stored_once(account, 1000)
