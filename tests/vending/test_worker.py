"""Syncs through a real Celery worker on the real Redis broker, including a worker killed mid-run (VEN-3, REL-4)."""

from __future__ import annotations

import time

import pytest
from django.db.models import Count

from core.models import SyncRun
from sandbox.vendista import VendistaSimulator
from tests.factories import owner_client
from vending import services
from vending.models import DailyRollup, SyncMode, Transaction

pytestmark = pytest.mark.slow


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")


def test_api_sync_runs_on_a_real_worker_and_feeds_the_report(sandbox, start_worker, make_account) -> None:
    sim = VendistaSimulator(total=800, terminals=3, start="2026-01-01T00:00:00", days=5)
    server = sandbox(sim)
    worker = start_worker(queues="sync,default", extra_env={"VENDISTA_API_URL": server.url})
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
    server = sandbox(sim)
    start_worker(queues="sync,default", extra_env={"VENDISTA_API_URL": server.url})
    settings.VENDISTA_API_SYNC_WAIT_SECONDS = 60  # generous: a loaded machine; the run itself takes ~1 s
    client, _, merchant = owner_client()
    make_account(merchant)
    response = client.post("/api/v1/vending/sync", {"date_from": "2026-01-01", "date_to": "2026-01-10"}, format="json")
    body = response.json()
    assert response.status_code == 200, body
    assert body["ok"] is True and body["transactions_synced"] == 300 and "300" in body["message"]
    assert SyncRun.objects.get(pk=body["run_id"]).status == SyncRun.Status.SUCCEEDED


def test_worker_killed_half_way_is_resumed_without_duplicates(sandbox, start_worker, make_account) -> None:
    sim = VendistaSimulator(total=1500, terminals=3, start="2026-01-01T00:00:00", days=5)
    sim.faults.latency_ms = 120  # ~30 pages × 120 ms: time to kill it in the middle
    server = sandbox(sim)
    env = {
        "VENDISTA_API_URL": server.url,
        "VENDISTA_PAGE_SIZE": "50",
        "VENDISTA_INGEST_BATCH": "100",
        "VENDISTA_SYNC_LOCK_SECONDS": "2",
    }
    first = start_worker(queues="sync,default", extra_env=env)
    account = make_account()
    run = services.sync_request(account=account, mode=SyncMode.FULL)  # autocommit: enqueued at once
    wait_for(lambda: SyncRun.objects.get(pk=run.pk).items_done >= 300, timeout=60, interval=0.05)
    first.kill()
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RUNNING and run.items_done < 1500
    checkpoint = run.params["next_page"]
    assert checkpoint > 1
    wait_for(lambda: services.sync_run_is_stale(run=SyncRun.objects.get(pk=run.pk)), timeout=10)
    second = start_worker(queues="sync,default", extra_env=env)
    sim.faults.latency_ms = 0
    assert services.sync_run_resume_stale() == [run.pk]  # what the 15-minute job does
    run = wait_for(lambda: SyncRun.objects.filter(pk=run.pk, status__in=["succeeded", "failed"]).first(), timeout=60)
    assert run.status == "succeeded", (run.error, second.log())
    assert run.counters["resumed_from_page"] == checkpoint > 1
    assert Transaction.objects.filter(account=account).count() == 1500
    assert not Transaction.objects.values("term_id", "vendista_id").annotate(n=Count("id")).filter(n__gt=1)
    expected = sum(Transaction.objects.filter(is_refund=False).values_list("sum_minor", flat=True))
    assert sum(DailyRollup.objects.values_list("revenue_gross", flat=True)) == expected
