"""PERF-5: eMAG order-route request rate with 4 worker processes, as a fraction of eMAG's 12 req/s.

The simulator runs in its own process (it must not share the GIL with the clients) and counts
requests per clock second, as eMAG's limit does; four worker processes run order sweeps and offer
reads of one account side by side, held back only by the account's two Redis-shared limiters.
Printed: the sustained order-route rate while all four ran, as a fraction of 12/s (target ≥ 0.95),
and the number of one-second windows above the limit on either route class (target 0).

    make bench PYTEST_ARGS="-k perf5"                 # 60 s
    PERF5_SECONDS=8 make bench PYTEST_ARGS="-k perf5"  # smoke run
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from marketplaces.emag.clients.emag import limiters
from marketplaces.emag.models import EmagAccount
from sandbox.emag import ORDER_RATE, SANDBOX_PASSWORD, SANDBOX_USER
from tests.factories import MerchantFactory
from tests.marketplaces.emag.test_shared_limits import collect, start_sync_workers, stop

SECONDS = float(os.environ.get("PERF5_SECONDS", "60"))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def simulator_process():
    process = subprocess.Popen(
        [sys.executable, "-m", "sandbox.emag", "--orders", "60"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        url = process.stdout.readline().strip()  # type: ignore[union-attr]
        assert url.startswith("http://127.0.0.1:"), url
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.django_db(transaction=True)
def test_perf5_emag_rate_with_four_workers(simulator_process: str) -> None:
    account = EmagAccount.objects.create(
        merchant=MerchantFactory(), name="perf5", api_user=SANDBOX_USER, api_password=SANDBOX_PASSWORD
    )
    for limiter in limiters(account.limiter_ref).values():
        limiter.reset()
    processes = start_sync_workers(account_id=account.pk, seconds=SECONDS, base_url=simulator_process)
    try:
        reports = collect(processes, timeout=SECONDS + 180)
    finally:
        stop(processes)
    with urllib.request.urlopen(f"{simulator_process}/_sandbox/stats", timeout=10) as response:
        stats = json.loads(response.read())

    # Whole clock seconds during which all four processes were running (after a second of warm-up).
    first = int(max(r["started"] for r in reports)) + 2
    last = int(min(r["stopped"] for r in reports)) - 1
    per_second = {int(k): v for k, v in stats["orders_per_second"].items()}
    seconds = list(range(first, last))
    sustained = sum(per_second.get(s, 0) for s in seconds) / len(seconds) if seconds else 0.0
    over = stats["orders_windows_over_limit"] + stats["other_windows_over_limit"]
    print(f"\nPERF-5 eMAG shared limits: 4 worker processes, {SECONDS:g} s, {len(seconds)} measured seconds")
    print(
        f"  order routes: {stats['orders_requests']} requests, sustained {sustained:.2f} req/s "
        f"= {sustained / ORDER_RATE:.3f} of {ORDER_RATE}/s (target >= 0.95)"
    )
    busiest_other = max(stats["other_per_second"].values(), default=0)
    print(f"  other routes: {stats['other_requests']} requests, busiest second {busiest_other}")
    print(f"  one-second windows above the limit: {over} (target 0); 429s from the simulator: {stats['violations']}")
    done = [(r["sweeps"], r["offer_syncs"], r["failures"]) for r in reports]
    print(f"  workers (sweeps, offer syncs, failures): {done}")
    assert seconds, "the run was too short to measure"
    assert all(r["failures"] == 0 for r in reports), reports
