"""PERF-2: the owner daily report for 31 days over 5,000,000 transactions (300 terminals, 2 years).

Raw rows are generated fast in SQL (generate_series); the rollups are built by the sync's own
code path (``services.rollups_rebuild``). Latency is measured through the API (DRF, token auth,
scoping, serialisation). The baseline, timed in the same run, is the same report computed by
scanning the raw rows (what the old system did).

    make bench PYTEST_ARGS="-k perf2"                   # 5,000,000 transactions
    PERF2_ROWS=300000 make bench PYTEST_ARGS="-k perf2"   # quick smoke run
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.db.models import Count, Q, Sum
from django.db.models.functions import TruncDate

from tests.factories import owner_client
from vending import services
from vending.models import DailyRollup, Transaction, VendistaAccount

ROWS = int(os.environ.get("PERF2_ROWS", "5000000"))
REQUESTS = int(os.environ.get("PERF2_REQUESTS", "300"))
TERMINALS = 300
FIRST_DAY = date(2024, 1, 1)
DAYS = 731


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@pytest.mark.django_db
def test_perf2_daily_report_p95() -> None:
    client, _, merchant = owner_client()
    account = VendistaAccount.objects.create(merchant=merchant, name="bench", time_zone="Europe/Moscow")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO vending_transaction (account_id, term_id, vendista_id, time, sum_minor, machine_item_id,
                card_number, status, result, reverse_id, is_refund, raw, synced_at)
            SELECT %(account)s, 1000 + (g * 7919) %% %(terminals)s, g,
                   %(start)s::timestamptz + (g * (%(seconds)s::float8 / %(rows)s)) * interval '1 second',
                   (ARRAY[9000, 12000, 15000, 17000, 19000, 22000, 25000])[1 + g %% 7], 1 + g %% 7,
                   '220220******' || lpad((g %% 10000)::text, 4, '0'), 1, 1,
                   CASE WHEN g %% 40 = 0 THEN g - 1 ELSE 0 END, g %% 40 = 0,
                   jsonb_build_object('id', g, 'term_id', 1000 + (g * 7919) %% %(terminals)s),
                   now()
            FROM generate_series(1::bigint, %(rows)s) AS g
            """,
            {
                "account": account.pk,
                "terminals": TERMINALS,
                "rows": ROWS,
                "seconds": DAYS * 86400,
                "start": datetime.combine(FIRST_DAY, datetime.min.time(), tzinfo=ZoneInfo("Europe/Moscow")),
            },
        )
        cursor.execute("ANALYZE vending_transaction")
    generated = time.perf_counter() - started
    started = time.perf_counter()
    rollups = services.rollups_rebuild(account=account, days=[FIRST_DAY + timedelta(days=n) for n in range(DAYS)])
    rollup_seconds = time.perf_counter() - started
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE vending_dailyrollup")
    assert rollups == DailyRollup.objects.filter(account=account).count() > 0

    rng = random.Random(7)
    latencies: list[float] = []
    windows = []
    for n in range(REQUESTS):
        first = FIRST_DAY + timedelta(days=rng.randrange(DAYS - 31))
        params = {"date_from": first.isoformat(), "date_to": (first + timedelta(days=30)).isoformat()}
        if n % 5 == 4:
            params["terminal"] = str(1000 + rng.randrange(TERMINALS))
        windows.append(params)
    client.get("/api/v1/vending/reports/daily", windows[0])  # warm-up (connection, caches)
    for params in windows:
        t0 = time.perf_counter()
        response = client.get("/api/v1/vending/reports/daily", params)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    body = response.json()
    assert len(body["days"]) == 31

    # Same report straight from the raw rows, as a baseline (fewer runs: it is slow).
    zone = account.zone
    raw_latencies = []
    for params in windows[:10]:
        first = date.fromisoformat(params["date_from"])
        t0 = time.perf_counter()
        qs = Transaction.objects.filter(
            account=account,
            time__gte=datetime.combine(first, datetime.min.time(), tzinfo=zone),
            time__lt=datetime.combine(first + timedelta(days=31), datetime.min.time(), tzinfo=zone),
        )
        list(
            qs.annotate(day=TruncDate("time", tzinfo=zone))
            .values("day")
            .annotate(g=Sum("sum_minor", filter=Q(is_refund=False)), n=Count("id"))
            .order_by()
        )
        list(qs.values("term_id").annotate(g=Sum("sum_minor", filter=Q(is_refund=False)), n=Count("id")).order_by())
        raw_latencies.append((time.perf_counter() - t0) * 1000)

    p50, p95, p99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
    raw_p95 = percentile(raw_latencies, 0.95)
    print(f"\nPERF-2 daily report: {ROWS:,} transactions, {TERMINALS} terminals, {DAYS} days; {rollups:,} rollup rows")
    print(
        f"  setup: raw rows via generate_series {generated:.1f} s; rollups via rollups_rebuild {rollup_seconds:.1f} s"
    )
    print(
        f"  API GET /api/v1/vending/reports/daily (31 days), {REQUESTS} requests: p50 {p50:.1f} ms, "
        f"p95 {p95:.1f} ms, p99 {p99:.1f} ms, mean {statistics.mean(latencies):.1f} ms"
    )
    print(f"  baseline: the same report scanning raw rows: p95 {raw_p95:.1f} ms over {len(raw_latencies)} runs")
    print(f"  p95 / target 100 ms = {p95 / 100:.2f} (target < 1.0); speed-up vs raw scan = {raw_p95 / p95:.1f}x")
    assert p95 < 100
