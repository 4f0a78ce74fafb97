"""PERF-7: the owner overview for 31 days over 5 M Vendista transactions, 1 M QR orders, 1 M Kaspi
and 1 M eMAG orders of one merchant (SPEC OWN-1), plus the alert delivery bound (OWN-4).

The rows are generated in SQL (generate_series) as single statements, so the rollup triggers run
exactly as they do for a sync's bulk write: the setup time printed includes keeping the rollup.
Latency is measured through the API (token auth, scoping, serialisation). The baseline, timed in
the same run, is the same 31-day figure computed by scanning the channel tables (the rebuild's
own queries restricted to the window), i.e. what a request would cost without the rollup.

    make bench PYTEST_ARGS="-k perf7"                                   # full size
    PERF7_VENDISTA=50000 PERF7_ORDERS=10000 make bench PYTEST_ARGS="-k perf7"   # smoke run
"""

from __future__ import annotations

import os
import random
import statistics
import time
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from overview import revenue_sql
from tests.factories import DeviceFactory, owner_client

VENDISTA = int(os.environ.get("PERF7_VENDISTA", "5000000"))
ORDERS = int(os.environ.get("PERF7_ORDERS", "1000000"))  # each of QR, Kaspi, eMAG
REQUESTS = int(os.environ.get("PERF7_REQUESTS", "300"))
FIRST_DAY = date(2024, 1, 1)
DAYS = 731


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _generate(merchant_id: int) -> dict[str, float]:
    from marketplaces.emag.models import EmagAccount
    from marketplaces.kaspi.models import KaspiStore
    from vending.models import VendistaAccount

    device = DeviceFactory(merchant_id=merchant_id)
    vendista = VendistaAccount.objects.create(merchant_id=merchant_id, name="bench")
    store = KaspiStore.objects.create(merchant_id=merchant_id, name="bench", merchant_uid="bench")
    emag = EmagAccount.objects.create(merchant_id=merchant_id, name="bench", api_user="u", api_password="p")
    start = timezone.make_aware(datetime.combine(FIRST_DAY, datetime.min.time()))
    seconds = DAYS * 86400
    common = {"start": start, "seconds": seconds}
    timings: dict[str, float] = {}
    statements = {
        "vendista": (
            """INSERT INTO vending_transaction (account_id, term_id, vendista_id, time, sum_minor, machine_item_id,
                 card_number, status, result, reverse_id, is_refund, raw, synced_at)
               SELECT %(acc)s, 1000 + g %% 300, g, %(start)s::timestamptz + (g * (%(seconds)s::float8 / %(n)s))
                      * interval '1 second', (ARRAY[9000, 12000, 15000, 22000])[1 + g %% 4], 1, '', 1, 1, 0,
                      g %% 40 = 0, '{}'::jsonb, now()
               FROM generate_series(1::bigint, %(n)s) g""",
            {"acc": vendista.pk, "n": VENDISTA},
        ),
        "qr orders": (
            """INSERT INTO payments_order (id, merchant_id, device_id, drink_name, drink_external_id, size, amount,
                 status, email, phone, error, created_at, updated_at, expires_at)
               SELECT gen_random_uuid(), %(m)s, %(dev)s, 'Latte', '1', 'small', 15000, 'successful', '', '', '', t, t, t
               FROM (SELECT %(start)s::timestamptz + (g * (%(seconds)s::float8 / %(n)s)) * interval '1 second' AS t
                     FROM generate_series(1::bigint, %(n)s) g) s""",
            {"m": merchant_id, "dev": device.pk, "n": ORDERS},
        ),
        "qr payments": (
            """INSERT INTO payments_payment (order_id, provider, provider_payment_id, amount, status, two_stage,
                 confirmation_url, settlement, raw, created_at, updated_at)
               SELECT o.id, 'yookassa', 'bench-' || o.id, o.amount,
                      CASE WHEN random() < 0.02 THEN 'canceled' ELSE 'succeeded' END, true, '', 'captured', '{}',
                      o.created_at, o.created_at
               FROM payments_order o WHERE o.device_id = %(dev)s""",
            {"dev": device.pk},
        ),
        "kaspi orders": (
            """INSERT INTO marketplaces_kaspiorder (store_id, kaspi_id, code, state, status, total_price, payment_mode,
                 delivery_mode, is_kaspi_delivery, customer_name, customer_phone, creation_date, raw, created_at,
                 updated_at)
               SELECT %(store)s, 'k' || g, 'c' || g, 'ARCHIVE',
                      (ARRAY['COMPLETED', 'COMPLETED', 'COMPLETED', 'RETURNED', 'CANCELLED'])[1 + g %% 5],
                      5000 + g %% 100 * 10, '', '', false, '', '',
                      %(start)s::timestamptz + (g * (%(seconds)s::float8 / %(n)s)) * interval '1 second', '{}', now(),
                      now()
               FROM generate_series(1::bigint, %(n)s) g""",
            {"store": store.pk, "n": ORDERS},
        ),
        "emag orders": (
            """INSERT INTO marketplaces_emag_emagorder (account_id, emag_id, status, date, payment_mode,
                 detailed_payment_method, shipping_tax_voucher_split, currency, customer, customer_name, vouchers,
                 cancellation_request, is_storno, is_complete, delivery_mode, details, refund_status, emag_club,
                 observation, sales_channel, flags, attachments, raw, first_seen_at, synced_at, updated_at)
               SELECT %(acc)s, g, (ARRAY[4, 4, 4, 5, 0, 1])[1 + g %% 6],
                      %(start)s::timestamptz + (g * (%(seconds)s::float8 / %(n)s)) * interval '1 second',
                      '', '', '[]', 'RON', '{}', '', '[]', '', false, true, '', '{}', '', false, '', '', '[]', '[]',
                      '{}', now(), now(), now()
               FROM generate_series(1::bigint, %(n)s) g""",
            {"acc": emag.pk, "n": ORDERS},
        ),
        "emag lines": (
            """INSERT INTO marketplaces_emag_emagorderitem (order_id, line_id, part_number, part_number_key, name,
                 quantity, sale_price, vat, currency, status, details, raw)
               SELECT o.id, 1, '', '', '', 1 + o.emag_id %% 3, 99.5, '0.19', 'RON', 1, '{}', '{}'
               FROM marketplaces_emag_emagorder o WHERE o.account_id = %(acc)s""",
            {"acc": emag.pk},
        ),
    }
    with connection.cursor() as cursor:
        for name, (sql, params) in statements.items():
            t0 = time.perf_counter()
            cursor.execute(sql, {**common, **params})
            timings[name] = time.perf_counter() - t0
        cursor.execute("ANALYZE")
    return timings


def _raw_scan(merchant_id: int, first: date, last: date) -> None:
    """The same figures from the channel tables for the window (what the rollup saves us)."""
    window = f" AND {revenue_sql.DAY_FUNCTION}({{col}}) BETWEEN %s AND %s"
    cols = {
        "qr_payment": "p.created_at",
        "qr_refund": "p.created_at",
        "vendista": "t.time",
        "kaspi": "k.creation_date",
        "emag_order": "COALESCE(o.date, o.first_seen_at)",
    }
    aliases = {"qr_payment": "o", "qr_refund": "o", "vendista": "a", "kaspi": "s", "emag_order": "a"}
    selects, params = [], []
    for source in revenue_sql.REBUILD_SOURCES:
        flt = f"AND {aliases[source.name]}.merchant_id = %s" + window.replace("{col}", cols[source.name])
        inner = source.contribution.replace("{rows}", source.table).replace("{merchant}", flt)
        params.extend([merchant_id, first, last] * inner.count("merchant_id = %s"))
        selects.append(f"SELECT * FROM ({inner}) c(merchant_id, day, channel, currency, kind, cnt, amt)")
    sql = (
        "SELECT day, channel, currency, kind, sum(cnt), sum(amt) FROM ("
        + " UNION ALL ".join(selects)
        + ") d GROUP BY 1, 2, 3, 4"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.fetchall()


@pytest.mark.django_db
def test_perf7_overview_p95() -> None:
    client, _, merchant = owner_client()
    t0 = time.perf_counter()
    timings = _generate(merchant.pk)
    setup = time.perf_counter() - t0
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM overview_revenueday WHERE merchant_id = %s", [merchant.pk])
        rollup_rows = cursor.fetchone()[0]

    rng = random.Random(7)
    windows = []
    for _ in range(REQUESTS):
        first = FIRST_DAY + timedelta(days=rng.randrange(DAYS - 31))
        windows.append((first, first + timedelta(days=30)))
    url = "/api/v1/overview/revenue/"
    client.get(url, {"date_from": windows[0][0].isoformat(), "date_to": windows[0][1].isoformat()})  # warm-up
    latencies = []
    for first, last in windows:
        t0 = time.perf_counter()
        params = {"date_from": first.isoformat(), "date_to": last.isoformat(), "merchant": merchant.pk}
        response = client.get(url, params)
        latencies.append((time.perf_counter() - t0) * 1000)
        assert response.status_code == 200
    body = response.json()
    assert {"RUB", "KZT", "RON"} <= set(body["totals"])

    raw = []
    for first, last in windows[:5]:
        t0 = time.perf_counter()
        _raw_scan(merchant.pk, first, last)
        raw.append((time.perf_counter() - t0) * 1000)

    p50, p95, p99 = (percentile(latencies, q) for q in (0.5, 0.95, 0.99))
    raw_p95 = percentile(raw, 0.95)
    print(
        f"\nPERF-7 overview: {VENDISTA:,} Vendista transactions, {ORDERS:,} each of QR, Kaspi and eMAG orders;"
        f" {rollup_rows:,} rollup rows"
    )
    print("  setup (rows + triggers keeping the rollup), s: " + ", ".join(f"{k} {v:.1f}" for k, v in timings.items()))
    print(f"  total setup {setup:.1f} s")
    print(
        f"  API GET {url} (31 days), {REQUESTS} requests: p50 {p50:.1f} ms, p95 {p95:.1f} ms, p99 {p99:.1f} ms,"
        f" mean {statistics.mean(latencies):.1f} ms"
    )
    print(f"  baseline: the same figures scanning the channel tables: p95 {raw_p95:.1f} ms over {len(raw)} runs")
    print(f"  p95 / target 100 ms = {p95 / 100:.2f} (target < 1.0); speed-up vs raw scan = {raw_p95 / p95:.1f}x")
    assert p95 < 100


@pytest.mark.django_db
def test_perf7_alert_delivery_bound(sandbox: object) -> None:
    """A stored condition → its message in the sandbox inbox: the job's own time, measured, plus its period."""
    from alerts.models import AlertChannel, AlertSettings
    from alerts.periodic import JOB
    from alerts.tasks import alerts_run
    from sandbox.alert_inbox import AlertInboxSimulator
    from tests.factories import MerchantFactory, VendistaAccountFactory
    from vending.models import VendistaAccount

    server = sandbox(AlertInboxSimulator())  # type: ignore[operator]
    runs = int(os.environ.get("PERF7_ALERTS", "30"))
    merchant = MerchantFactory()
    AlertSettings.objects.create(merchant=merchant, hourly_cap=1000)
    AlertChannel.objects.create(
        merchant=merchant, name="inbox", kind="apprise", secret=f"json://{server.url[7:]}/inbox"
    )
    durations = []
    for n in range(runs):
        VendistaAccountFactory(merchant=merchant, subscription_status=VendistaAccount.Subscription.UNPAID)
        t0 = time.perf_counter()
        alerts_run()
        durations.append((time.perf_counter() - t0) * 1000)
        assert len(server.simulator.state["messages"]) == n + 1  # type: ignore[attr-defined]
    p95 = percentile(durations, 0.95)
    bound = JOB.every_seconds + p95 / 1000  # type: ignore[operator]
    print(f"\nPERF-7 alerts: condition → message, the job's run p95 {p95:.1f} ms over {runs} runs;")
    print(f"  worst case = period {JOB.every_seconds:.0f} s + run {p95 / 1000:.2f} s = {bound:.1f} s (target < 60 s)")
    assert bound < 60


@pytest.mark.django_db(transaction=True)
def test_perf7_alert_delivered_within_a_minute_end_to_end(sandbox: object, start_worker: Any) -> None:
    """OWN-4 "a condition is delivered to its channel within 60 s (p95)", end to end as in
    production: the periodic job from django-celery-beat's database schedule, a real worker on the
    ``default`` queue, Apprise to the sandbox inbox. Each condition is stored at a random moment of
    the job's period; the time is from its commit to the kernel's receipt of the message. The
    baseline printed beside it is the job's period (the least a polled condition can take, worst case)."""
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    from alerts.models import AlertChannel, AlertSettings
    from alerts.periodic import JOB
    from sandbox.alert_inbox import AlertInboxSimulator
    from tests.factories import MerchantFactory, VendistaAccountFactory
    from vending.models import VendistaAccount

    server = sandbox(AlertInboxSimulator())  # type: ignore[operator]
    inbox = server.simulator
    runs = int(os.environ.get("PERF7_E2E_ALERTS", "10"))
    merchant = MerchantFactory()
    AlertSettings.objects.create(merchant=merchant, hourly_cap=1000)
    AlertChannel.objects.create(
        merchant=merchant, name="inbox", kind="apprise", secret=f"json://{server.url[7:]}/inbox"
    )
    call_command("install_periodic_tasks", verbosity=0)
    PeriodicTask.objects.exclude(name=JOB.name).update(enabled=False)  # only the alerts job runs here
    start_worker(
        queues="default",
        concurrency=1,
        extra_args=["-B", "--scheduler", "django_celery_beat.schedulers:DatabaseScheduler"],
    )
    rng = random.Random(7)
    latencies = []
    for n in range(runs):
        time.sleep(rng.uniform(0, JOB.every_seconds))  # type: ignore[operator]  # anywhere in the period
        stored = time.time()
        VendistaAccountFactory(merchant=merchant, subscription_status=VendistaAccount.Subscription.UNPAID)
        deadline = time.monotonic() + 120
        while len(inbox.state["messages"]) < n + 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(inbox.state["messages"]) == n + 1, f"message {n + 1} not delivered within 120 s"
        latencies.append(inbox.state["messages"][n]["arrived"] - stored)
    p95 = percentile(latencies, 0.95)
    print(f"\nPERF-7 alerts end to end (beat + worker + Apprise), {runs} conditions: p50 "
          f"{statistics.median(latencies):.1f} s, p95 {p95:.1f} s, max {max(latencies):.1f} s")  # fmt: skip
    print(f"  p95 / target 60 s = {p95 / 60:.2f} (target < 1.0); p95 / job period "
          f"{JOB.every_seconds:.0f} s (baseline) = {p95 / JOB.every_seconds:.2f}")  # type: ignore[operator]  # fmt: skip
    assert p95 < 60
