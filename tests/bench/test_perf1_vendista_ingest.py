"""PERF-1: full Vendista sync (fetch → parse → upsert → rollups) vs a plain PostgreSQL COPY of the same rows.

The simulator runs in its own process (so it does not take the GIL from the client), unthrottled;
the account's limiter is raised. The baseline is COPY of exactly the rows the sync stored, into a
table of the same shape and indexes, timed in the same run. Also prints how long the same sync
would take at the default ~1 request/s pace (computed from the page count, not run).

    make bench PYTEST_ARGS="-k perf1"            # 1,000,000 transactions
    PERF1_ROWS=50000 make bench PYTEST_ARGS="-k perf1"   # quick smoke run
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings

from core.models import SyncRun
from sandbox.vendista import SANDBOX_LOGIN, SANDBOX_PASSWORD
from tests.factories import MerchantFactory
from tests.support.processes import Processes
from vending import services
from vending.models import DailyRollup, SyncMode, Transaction, VendistaAccount

ROWS = int(os.environ.get("PERF1_ROWS", "1000000"))
PAGE_SIZE = int(os.environ.get("PERF1_PAGE_SIZE", "1000"))
ROOT = Path(__file__).resolve().parents[2]
COLUMNS = (
    "id, account_id, term_id, vendista_id, time, sum_minor, machine_item_id, card_number, status, result, "
    "reverse_id, is_refund, raw, previous_time, synced_at"
)


@pytest.fixture
def simulator_process():
    with Processes() as procs:  # stopped whatever happens, also when it never prints its URL
        process = procs.popen(
            [sys.executable, "-m", "sandbox.vendista", "--total", str(ROWS), "--terminals", "50", "--days", "60"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        yield url


@pytest.mark.django_db(transaction=True)
def test_perf1_full_sync_vs_copy(simulator_process: str) -> None:
    account = VendistaAccount.objects.create(
        merchant=MerchantFactory(),
        name="bench",
        login=SANDBOX_LOGIN,
        password=SANDBOX_PASSWORD,
        rate_per_second=100_000,
    )
    with override_settings(VENDISTA_PAGE_SIZE=PAGE_SIZE, VENDISTA_API_URL=simulator_process):
        run = services.sync_request(account=account, mode=SyncMode.FULL, enqueue=False)
        # The simulator's data start in 2026-01; a window frozen to "now" covers it all.
        started = time.perf_counter()
        run = services.transactions_sync(run=run)
        sync_seconds = time.perf_counter() - started
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    stored = Transaction.objects.filter(account=account).count()
    assert stored == ROWS and run.items_done == ROWS
    assert DailyRollup.objects.filter(account=account).exists()

    # Baseline: COPY the very same rows into a table of the same shape (same indexes/constraints).
    with tempfile.NamedTemporaryFile(prefix="perf1-", suffix=".copy") as dump, connection.cursor() as cursor:
        with cursor.copy(
            f"COPY (SELECT {COLUMNS} FROM vending_transaction WHERE account_id = %s) TO STDOUT", [account.pk]
        ) as copy:
            for chunk in copy:
                dump.write(chunk)
        dump.flush()
        size_mb = dump.tell() / 1e6
        results = {}
        for label, including in (("same indexes", "INCLUDING ALL"), ("no indexes", "INCLUDING DEFAULTS")):
            cursor.execute("DROP TABLE IF EXISTS perf1_copy")
            cursor.execute(f"CREATE TABLE perf1_copy (LIKE vending_transaction {including})")
            dump.seek(0)
            started = time.perf_counter()
            with cursor.copy(f"COPY perf1_copy ({COLUMNS}) FROM STDIN") as copy:
                while chunk := dump.read(1 << 20):
                    copy.write(chunk)
            results[label] = time.perf_counter() - started
            cursor.execute("SELECT count(*) FROM perf1_copy")
            assert cursor.fetchone()[0] == ROWS
        cursor.execute("DROP TABLE perf1_copy")

    sync_rate = ROWS / sync_seconds
    copy_rate = ROWS / results["same indexes"]
    ratio = sync_rate / copy_rate
    requests_needed = math.ceil(ROWS / PAGE_SIZE) + 2  # pages + /token + /terminals
    paced = requests_needed / settings.VENDISTA_RATE_PER_SECOND
    print(
        f"\nPERF-1 Vendista ingest: {ROWS:,} transactions, ItemsOnPage={PAGE_SIZE}, {run.counters['pages']} pages,"
        f" {size_mb:.0f} MB of rows"
    )
    print(f"  full sync (fetch+parse+upsert+rollups): {sync_seconds:.2f} s = {sync_rate:,.0f} rows/s")
    print(
        f"  database time summed over {settings.VENDISTA_INGEST_WRITERS} writer connection(s): "
        f"{run.counters.get('db_seconds')} s"
    )
    print(f"  baseline COPY, same indexes:            {results['same indexes']:.2f} s = {copy_rate:,.0f} rows/s")
    print(
        f"  (COPY into a table without indexes:     {results['no indexes']:.2f} s = "
        f"{ROWS / results['no indexes']:,.0f} rows/s)"
    )
    print(
        f"  ratio sync/COPY = {ratio:.2f} (target >= 0.4); vs no-index COPY = "
        f"{sync_rate / (ROWS / results['no indexes']):.2f}"
    )
    print(
        f"  at the default {settings.VENDISTA_RATE_PER_SECOND:g} req/s: {requests_needed:,} requests -> "
        f"~{paced / 60:.0f} min ({paced / 3600:.2f} h) of pacing, ingest work overlapped with the waits"
    )
