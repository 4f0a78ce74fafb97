"""PERF-6: Poster webhook received → object updated in the database (p95, target < 500 ms), with the
Poster simulator at 50 ms latency and a running worker; the baseline is the bare webhook answer time
(the same POST answered with {"status": "accept"}) measured in the same run, printed as a ratio.

Run with `make bench` (or: pytest tests/bench/test_perf6_poster_webhook.py -p no:xdist -s -o addopts="").
Sizes via PERF6_DELIVERIES (default 500) and PERF6_LATENCY_MS (default 50).
"""

from __future__ import annotations

import os
import secrets
import statistics
import subprocess
import sys
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.db import connection

from core.models import Merchant
from poster_sync.models import PosterAccount, WebhookLog, WebhookStatus
from sandbox.poster import SANDBOX_ACCOUNT, SANDBOX_TOKEN
from tests.bench.test_perf4_webhook_to_brew import ROOT, pct
from tests.support.celery_worker import _database_url
from tests.support.processes import free_port, stop

pytestmark = [pytest.mark.django_db(transaction=True)]
DELIVERIES = int(os.environ.get("PERF6_DELIVERIES", "500"))
LATENCY_MS = float(os.environ.get("PERF6_LATENCY_MS", "50"))
INGREDIENTS = 50


def start(procs: dict[str, subprocess.Popen], name: str, args: list[str], env: dict[str, str], ready_url: str) -> None:
    """Start a server in its own process group, registered for the ``finally`` before it is waited on
    (so one that never becomes ready is stopped too); ready when ``ready_url`` answers."""
    procs[name] = proc = subprocess.Popen(args, cwd=ROOT, env=env, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(ready_url, timeout=5)
            return
        except requests.RequestException:
            assert proc.poll() is None, f"{name} exited"
            assert time.monotonic() < deadline, f"{name} did not start"
            time.sleep(0.2)


def wait_for_name(account_id: int, poster_id: int, name: str, timeout: float = 30.0) -> float:
    """Poll the row (one indexed SELECT every ms) until it carries ``name``; return the instant."""
    deadline = time.perf_counter() + timeout
    with connection.cursor() as cursor:
        while True:
            cursor.execute(
                "SELECT name FROM poster_sync_ingredient WHERE account_id = %s AND poster_id = %s",
                [account_id, poster_id],
            )
            row = cursor.fetchone()
            now = time.perf_counter()
            if row and row[0] == name:
                return now
            if now > deadline:
                raise AssertionError(f"ingredient {poster_id} not updated within {timeout}s")
            time.sleep(0.001)


def test_perf6_poster_webhook_to_database(start_worker) -> None:
    secret = secrets.token_hex(16)
    sim_port, web_port = free_port(), free_port()
    sim_url, web = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "POSTER_APP_SECRET": secret,
        "POSTER_APP_ID": "bench-app",
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "CONN_MAX_AGE": "60",
        "DATABASE_URL": _database_url(settings.DATABASES["default"], connection.settings_dict["NAME"]),
    }
    procs: dict[str, subprocess.Popen] = {}
    try:
        # Every server in its own process, as in production: the simulator, gunicorn, the worker.
        start(
            procs,
            "poster simulator",
            [
                sys.executable,
                "-m",
                "sandbox.poster",
                "--port",
                str(sim_port),
                "--latency-ms",
                str(LATENCY_MS),
                "--ingredients",
                str(INGREDIENTS),
            ],
            env,
            f"{sim_url}/_sandbox/stats",
        )
        start(
            procs,
            "gunicorn",
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{web_port}",
                "--workers",
                "2",
                "--threads",
                "4",
                "--log-level",
                "warning",
            ],
            env,
            f"{web}/webhooks/poster/",
        )
        start_worker(queues="sync,default", extra_env=env, concurrency=2)
        merchant = Merchant.objects.create(name="Bench", slug=f"bench-{uuid.uuid4().hex[:8]}")
        account = PosterAccount.objects.create(
            merchant=merchant, account=SANDBOX_ACCOUNT, access_token=SANDBOX_TOKEN, api_url=f"{sim_url}/api"
        )
        http = requests.Session()
        answers, totals = [], []
        for i in range(DELIVERIES):
            poster_id = 1 + i % INGREDIENTS
            name = f"bench {i} {uuid.uuid4().hex[:6]}"
            body = http.post(
                f"{sim_url}/_sandbox/poster/change",
                timeout=10,
                json={
                    "object": "ingredient",
                    "object_id": poster_id,
                    "action": "changed",
                    "fields": {"ingredient_name": name},
                    "send": False,
                },
            ).json()["webhook"]
            started = time.perf_counter()
            response = http.post(f"{web}/webhooks/poster/", json=body, timeout=10)
            answered = time.perf_counter()
            assert response.status_code == 200 and response.json() == {"status": "accept"}, response.text
            updated = wait_for_name(account.pk, poster_id, name)
            answers.append((answered - started) * 1000)
            totals.append((updated - started) * 1000)
        settle = time.monotonic() + 10  # the row is written just before its log is marked processed
        while (processed := WebhookLog.objects.filter(status=WebhookStatus.PROCESSED).count()) < DELIVERIES:
            if time.monotonic() > settle:
                break
            time.sleep(0.05)
        assert processed == DELIVERIES, f"{processed} of {DELIVERIES} deliveries processed"
        p95_answer, p95_total = pct(answers, 95), pct(totals, 95)
        print(
            f"\nPERF-6 Poster webhook → database over {DELIVERIES} deliveries, simulator latency {LATENCY_MS:.0f} ms:"
            f"\n  bare webhook answer (baseline): p50 {statistics.median(answers):.1f} ms, p95 {p95_answer:.1f} ms"
            f"\n  received → object updated:       p50 {statistics.median(totals):.1f} ms, p95 {p95_total:.1f} ms"
            f"\n  ratio p95 / baseline p95: {p95_total / p95_answer:.1f}×   target p95 < 500 ms: "
            f"{'met' if p95_total < 500 else 'NOT met'}"
            f"\n  (one Poster call per delivery, paced at POSTER_RATE_PER_SECOND={settings.POSTER_RATE_PER_SECOND:g}/s "
            f"per account: when deliveries come faster than that, the spacing is a delivery's floor)"
        )
    finally:
        for proc in procs.values():
            stop(proc)
