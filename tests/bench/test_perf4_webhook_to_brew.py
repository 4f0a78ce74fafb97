"""PERF-4: payment webhook received → brew command published (p50/p99, ≥ 1,000 orders, running worker),
and webhook requests/s under gunicorn as a ratio to a bare Django JSON view on the same server config.

The ratio (p99 ≤ 2 × the sum of the bare parts' p99s) is taken over the path alone, as each bare part
is measured alone: one webhook at a time, the next sent once the previous order has settled (brewed,
acknowledged by the machine, its payment captured), with one sample of each bare part taken after
each order, so that the path and its parts are measured under the same conditions (the parts
sampled in a tight loop, warm, are printed for comparison). The same path with the previous order's
acknowledgement and capture still running beside it (the next webhook sent as soon as the machine
has its command) is measured too and printed next to it, over PERF4_LOADED_ORDERS orders: on two
cores those follow-ups take the CPU the path waits for, so that figure says what a busy moment
costs, not what the path costs.

Run with `make bench` (or: pytest tests/bench/test_perf4_webhook_to_brew.py -p no:xdist -s -o addopts="").
Sizes via PERF4_ORDERS (default 1000; as many samples of each bare part, taken between the orders),
PERF4_LOADED_ORDERS (back to back, default half of that), PERF4_SECONDS (load duration per endpoint,
default 5) and PERF4_BARE_SAMPLES (round trips through the result backend printed for comparison,
default 300), PERF4_BREW_POOL (the brew worker's pool, default prefork as in production; e.g. threads
to compare); e.g. PERF4_ORDERS=20 PERF4_SECONDS=1 PERF4_BARE_SAMPLES=30 to check that it runs.
"""

from __future__ import annotations

import gc
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlsplit

import paho.mqtt.client as paho
import pytest
import requests
from django.conf import settings
from django.db import connection

from core.runtime import freeze_startup_heap
from payments.models import BrewCommand, Order, OrderStatus, Payment, WebhookDelivery
from payments.services.orders import order_create
from sandbox.coffee_machine import CoffeeMachine
from tests.payments.conftest import shop, sims  # noqa: F401 (fixtures)
from tests.support.celery_worker import _database_url, procfile_workers
from tests.support.processes import Processes, free_port, wait_output, wait_port

pytestmark = [pytest.mark.django_db(transaction=True)]
ROOT = Path(__file__).resolve().parents[2]
# The broker forwards a QoS 1 publish to the device before its PUBACK is back with us: may be < 0.
AT_MACHINE = "→ machine received"
ORDERS = int(os.environ.get("PERF4_ORDERS", "1000"))
LOADED_ORDERS = int(os.environ.get("PERF4_LOADED_ORDERS", str(max(1, ORDERS // 2))))
SECONDS = float(os.environ.get("PERF4_SECONDS", "5"))
BARE_SAMPLES = int(os.environ.get("PERF4_BARE_SAMPLES", "300"))
CELERY_HOP = "Celery hop (publish → task started, no result)"
# The brew worker's pool: prefork as bin/start runs it; PERF4_BREW_POOL=threads to compare.
BREW_POOL = os.environ.get("PERF4_BREW_POOL", "prefork")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


class BareParts:
    """The bare parts of the webhook → brew path (SPEC PERF-4), each alone, one sample of each at a
    time: a bare Django view on the same gunicorn, the provider GET the webhook re-reads the payment
    with, an INSERT + COMMIT on the same database, a bare Celery hop to the same brew worker, and a
    command published straight to the same broker and machine (no web, no queue, no database).

    ``sample()`` is called between the path's orders, once each has settled, so the parts and the
    path are measured under the same conditions of the machine (a busy moment, PostgreSQL's own
    background work after an earlier benchmark) rather than at two different moments."""

    def __init__(
        self, web: str, yk_url: str, auth: tuple[str, str], provider_payment_id: str, prefix: str, machine, port: int
    ) -> None:
        from core.redis_client import shared_redis

        self.web, self.yk_url, self.auth, self.pid = web, yk_url, auth, provider_payment_id
        self.prefix, self.machine = prefix, machine
        self.session = requests.Session()
        self.redis = shared_redis()
        self.parts: dict[str, list[float]] = {
            "Django view": [],
            "provider GET": [],
            "INSERT + COMMIT": [],
            CELERY_HOP: [],
            "MQTT publish (PUBACK)": [],
        }
        self.at_machine: list[float] = []  # publish → the machine has it (for the stage print)
        with connection.cursor() as cursor:
            cursor.execute("CREATE TABLE IF NOT EXISTS perf4_bare_insert (id bigserial PRIMARY KEY, v text)")
        self.mqtt = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"bench-{uuid.uuid4().hex[:8]}")
        self.mqtt.connect("127.0.0.1", port)
        self.mqtt.loop_start()

    def close(self) -> None:
        self.mqtt.loop_stop()
        self.mqtt.disconnect()
        with connection.cursor() as cursor:
            cursor.execute("DROP TABLE IF EXISTS perf4_bare_insert")

    def _timed(self, name: str, call) -> None:
        t0 = time.perf_counter()
        call()
        self.parts[name].append((time.perf_counter() - t0) * 1000)

    def _insert(self) -> None:
        from django.db import transaction

        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("INSERT INTO perf4_bare_insert (v) VALUES (%s)", ["x"])

    def _hop(self) -> None:
        """Published with no result (as ``brew_process_delivery.delay`` is) until a brew worker starts
        it: the task records its start time in Redis and the time published is subtracted."""
        from core.tasks import hop_mark

        key = f"perf4-hop-{uuid.uuid4().hex}"
        t0 = time.time()
        hop_mark.apply_async((key,), queue="brew")
        answer = self.redis.blpop([key], timeout=30)
        assert answer is not None, "the brew worker did not run the hop"
        self.parts[CELERY_HOP].append((float(answer[1]) - t0) * 1000)

    def _publish(self) -> None:
        order_id = f"bare-{uuid.uuid4()}"
        body = json.dumps({"command_id": str(uuid.uuid4()), "order_id": order_id})
        t0 = time.time()
        self.mqtt.publish(f"{self.prefix}/bare/commands", body, qos=1).wait_for_publish(5)
        self.parts["MQTT publish (PUBACK)"].append((time.time() - t0) * 1000)
        assert self.machine.wait_for_order(order_id, 5)
        self.at_machine.append((self.machine.received_at[order_id] - t0) * 1000)

    def sample(self) -> None:
        self._timed("Django view", lambda: self.session.post(f"{self.web}/bench/bare/", json={}, timeout=10))
        self._timed(
            "provider GET",
            lambda: self.session.get(f"{self.yk_url}/payments/{self.pid}", auth=self.auth, timeout=10),
        )
        self._timed("INSERT + COMMIT", self._insert)
        self._hop()
        self._publish()


def timed_ms(call, n: int) -> list[float]:
    out = []
    for i in range(n):
        t0 = time.perf_counter()
        call(i)
        out.append((time.perf_counter() - t0) * 1000)
    return out


def load(url: str, bodies: list[dict] | None, seconds: float, concurrency: int = 8) -> tuple[float, int, int]:
    """POST for ``seconds``; with ``bodies``, each body at most once (stops early when all are sent).
    Returns (requests/s, errors, requests sent)."""
    stop = time.monotonic() + seconds
    counts, errors = [0] * concurrency, [0] * concurrency

    def run(i: int) -> None:
        session = requests.Session()
        n = i
        while time.monotonic() < stop and (bodies is None or n < len(bodies)):
            body = bodies[n] if bodies else {}
            n += concurrency
            response = session.post(url, json=body, timeout=10)
            if response.status_code == 200:
                counts[i] += 1
            else:
                errors[i] += 1

    threads = [threading.Thread(target=run, args=(i,)) for i in range(concurrency)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 30)
    return sum(counts) / (time.monotonic() - started), sum(errors), sum(counts) + sum(errors)


YK_SERVER = """
import json, sys, time
from sandbox.harness import SandboxServer
from sandbox.yookassa import YooKassaSimulator
SandboxServer(YooKassaSimulator(accounts=json.loads(sys.argv[1]), notify=False), port=int(sys.argv[2])).start()
while True:
    time.sleep(3600)
"""


def start_broker(tmp: Path, procs: Processes) -> tuple[subprocess.Popen | None, int]:
    """A Mosquitto of our own with the shipped broker settings (deploy/mosquitto.conf: TCP_NODELAY),
    on a free loopback port; falls back to the broker at MQTT_URL when mosquitto is not installed."""
    binary = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)
    if binary is None:
        print("PERF-4 note: mosquitto not installed here; using the broker at MQTT_URL as it is configured")
        from django.conf import settings

        return None, urlsplit(settings.MQTT_URL).port or 1883
    port = free_port()
    # The shipped performance settings; its logins and ACLs are tested elsewhere (test_mqtt_broker_acl):
    # this private loopback broker lets the bench's clients in anonymously.
    replaced = (
        ["listener"],
        ["persistence"],
        ["persistence_location"],
        ["allow_anonymous"],
        ["password_file"],
        ["acl_file"],
    )
    shipped = [
        line for line in (ROOT / "deploy/mosquitto.conf").read_text().splitlines() if line.split()[:1] not in replaced
    ]
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        "\n".join([f"listener {port} 127.0.0.1", "persistence false", "allow_anonymous true", *shipped]) + "\n"
    )
    proc = procs.popen([binary, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(proc, port, timeout=30, name="mosquitto")
    return proc, port


def cpu_ms(pids: dict[str, list[int]]) -> dict[str, float]:
    """CPU time (user + system, all threads) so far of each group of processes, in ms."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, group in pids.items():
        total = 0
        for pid in group:
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
        out[name] = total * 1000 / tick
    return out


def process_groups(procs: dict[str, subprocess.Popen], workers: dict) -> dict[str, list[int]]:
    """What serves the load: gunicorn (master and its workers), the simulator, the Celery workers (with
    their pools), PostgreSQL's processes (the machine's, so nothing else should run), and this client."""

    def with_children(pid: int) -> list[int]:
        try:
            kids = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return [pid]
        return [pid, *[p for kid in kids for p in with_children(int(kid))]]

    postgres = [
        int(p.name)
        for p in Path("/proc").iterdir()
        if p.name.isdigit() and (p / "comm").exists() and (p / "comm").read_text().strip().startswith("postgres")
    ]
    groups = {name: with_children(proc.pid) for name, proc in procs.items()}
    for name, worker in workers.items():
        if worker.process is not None and worker.process.poll() is None:
            groups[f"celery {name}"] = with_children(worker.process.pid)
    return {**groups, "postgresql": postgres, "load client (this process)": [os.getpid()]}


def cpu_per_request(before: dict[str, float], after: dict[str, float], n: int) -> str:
    parts = {k: (after[k] - before.get(k, 0)) / max(n, 1) for k in after}
    shown = ", ".join(f"{k} {v:.2f}" for k, v in sorted(parts.items(), key=lambda kv: -kv[1]) if v >= 0.01)
    return f"{sum(parts.values()):.2f} ms ({shown})"


def test_perf4_webhook_to_brew(shop, sims, start_worker) -> None:  # noqa: F811
    # Everything that serves requests runs in its own process, as in production: the YooKassa
    # simulator (re-reads), gunicorn with the production settings and web config (bin/start web),
    # the Celery worker, the MQTT broker with the shipped config; this process sends load and plays
    # the coffee machine.
    yk_port, web_port = free_port(), free_port()
    yk_url, web = f"http://127.0.0.1:{yk_port}", f"http://127.0.0.1:{web_port}"
    settings.YOOKASSA_API_URL = sims.urls["YOOKASSA_API_URL"] = yk_url
    tmp = Path(tempfile.mkdtemp(prefix="perf4-"))
    machine = None
    # Every process started here is stopped whatever happens (a slow start, a failed readiness wait,
    # an assertion in the measurement): Processes registers each one before anything can fail.
    with Processes() as running:
        try:
            broker, mqtt_port = start_broker(tmp, running)
            procs = {
                "yookassa simulator": running.spawn(
                    [sys.executable, "-c", YK_SERVER, json.dumps({sims.shop_id: sims.secret_key}), str(yk_port)],
                    dict(os.environ),
                    f"{yk_url}/_sandbox/stats",
                )
            }
            prod = sims.env(
                DJANGO_SETTINGS_MODULE="config.settings.base",
                CONN_MAX_AGE="60",
                MQTT_URL=f"mqtt://127.0.0.1:{mqtt_port}" if broker else settings.MQTT_URL,
                DATABASE_URL=_database_url(settings.DATABASES["default"], connection.settings_dict["NAME"]),
            )
            procs["gunicorn"] = running.spawn(
                [
                    sys.executable,
                    "-m",
                    "gunicorn",
                    "tests.payments.perf4_wsgi:application",
                    "--bind",
                    f"127.0.0.1:{web_port}",
                    "--workers",
                    "2",
                    "--threads",
                    "4",
                    "--log-level",
                    "warning",
                ],
                {**os.environ, **prod},
                f"{web}/bench/bare/",
                method="post",
                timeout=120,
            )
            machine = CoffeeMachine(prefix=sims.prefix, port=mqtt_port).start()
            # The workers of the Procfile (make run; docker-compose has the same): the brew queue has its
            # own, so captures and refunds (payments) never take its slots or wait behind it.
            topology = procfile_workers()
            payments_worker = start_worker(
                queues=topology["worker-payments"][0], concurrency=topology["worker-payments"][1], extra_env=prod
            )
            brew_queues, brew_concurrency = topology["worker-brew"]
            brew = {"queues": brew_queues, "concurrency": brew_concurrency, "pool": BREW_POOL, "extra_env": prod}
            worker = start_worker(**brew)
            print(
                f"\nPERF-4 workers (Procfile): {brew_queues} x{brew_concurrency} ({BREW_POOL} pool); "
                f"{topology['worker-payments'][0]} x{topology['worker-payments'][1]}"
            )
            # The ack listener as in production: its own process (bin/start mqtt-listener).
            procs["mqtt listener"] = running.popen(
                [sys.executable, "manage.py", "mqtt_listener"],
                env={**os.environ, **prod},
                stdout=subprocess.PIPE,
                text=True,
            )
            # Subscribed before the first brew: an acknowledgement sent earlier would be lost.
            wait_output(procs["mqtt listener"], "mqtt_listener: subscribed", timeout=120, name="mqtt_listener")
            run_benchmark(
                shop,
                sims,
                machine,
                yk_url,
                web,
                worker=worker,
                mqtt_port=mqtt_port,
                groups=lambda: process_groups(
                    {k: procs[k] for k in ("gunicorn", "yookassa simulator")},
                    {"brew worker": worker, "payments worker": payments_worker},
                ),
                restart_worker=lambda: start_worker(**brew),
            )
        finally:
            gc.unfreeze()  # the rest of the benchmark session collects this process's heap as usual
            if machine is not None:
                machine.stop()
            shutil.rmtree(tmp, ignore_errors=True)


def wait_settled(orders: list[Order], timeout: float = 120) -> None:
    """Until each order has settled: brewed, acknowledged, its payment captured at the provider."""
    deadline = time.monotonic() + timeout
    pending = Payment.objects.filter(order__in=orders).exclude(settlement=Payment.Settlement.CAPTURED)
    while pending.exists():
        assert time.monotonic() < deadline, "orders did not all settle"
        time.sleep(0.005)


def run_benchmark(
    shop,  # noqa: F811  (the payments test fixtures, passed through)
    sims,  # noqa: F811
    machine,
    yk_url: str,
    web: str,
    *,
    worker,
    mqtt_port,
    groups,
    restart_worker,
) -> None:
    auth = (sims.shop_id, sims.secret_key)
    every = [
        order_create(device=shop.mqtt_device, drink=shop.drink, size="small").order
        for _ in range(ORDERS + LOADED_ORDERS)
    ]
    notifications = []
    http = requests.Session()
    for order in every:
        pid = order.payment.provider_payment_id
        http.post(f"{yk_url}/confirm/{pid}", data={"action": "card"}, allow_redirects=False, timeout=10)
        payment = http.get(f"{yk_url}/payments/{pid}", auth=auth, timeout=10).json()
        assert payment["status"] == "waiting_for_capture"
        notifications.append({"type": "notification", "event": "payment.waiting_for_capture", "object": payment})
    orders, loaded = every[:ORDERS], every[ORDERS:]

    # --- latency: one webhook at a time, until the machine has the command -------------------------
    # The load client is this pytest process, whose heap holds the whole suite: its own full GC walks
    # (as long as the servers' were before core/runtime.py) must not land between t0 and a request.
    # Unfrozen when the benchmark ends (test_perf4_webhook_to_brew's finally).
    freeze_startup_heap()
    url = f"{web}/webhooks/yookassa/"
    session = requests.Session()
    latencies: list[float] = []
    post_ms: list[float] = []
    started: dict[str, float] = {}

    def send(order: Order, body: dict) -> None:
        key = str(order.pk)
        t0 = started[key] = time.time()
        assert session.post(url, json=body, timeout=10).status_code == 200
        post_ms.append((time.time() - t0) * 1000)
        assert machine.wait_for_order(key), f"no brew command for {key}"
        latencies.append((machine.received_at[key] - t0) * 1000)

    # Back to back first (not the target): each webhook as soon as the machine has the previous
    # command, that order's acknowledgement and capture running beside the next one.
    for order, body in zip(loaded, notifications[ORDERS:], strict=True):
        send(order, body)
    wait_settled(loaded)  # and every publish time written
    beside = [
        (c.published_at.timestamp() - started[str(c.order_id)]) * 1000
        for c in BrewCommand.objects.filter(order__in=loaded)
    ]
    latencies.clear()
    post_ms.clear()
    # The path alone (the target): each webhook once the previous order has settled, then one sample
    # of each bare part. Each starts 10 ms after the other's last work: the order's last writes after
    # its capture, the listener's handling of the machine's acknowledgement of the bare command.
    bare_parts = BareParts(web, yk_url, auth, orders[0].payment.provider_payment_id, sims.prefix, machine, mqtt_port)
    try:
        for order, body in zip(orders, notifications[:ORDERS], strict=True):
            send(order, body)
            wait_settled([order])
            time.sleep(0.01)
            bare_parts.sample()
            time.sleep(0.01)
    finally:
        bare_parts.close()
    print(
        f"\nPERF-4 webhook HTTP answer (authenticated by re-reading YooKassa, stored, enqueued): "
        f"p50 {pct(post_ms, 50):.1f} ms, p99 {pct(post_ms, 99):.1f} ms"
    )
    base = bare_parts.at_machine
    published = [
        (c.published_at.timestamp() - started[str(c.order_id)]) * 1000
        for c in BrewCommand.objects.filter(order__in=orders)
    ]
    assert len(published) == len(orders)
    p50, p99, bp50, bp99 = pct(published, 50), pct(published, 99), pct(base, 50), pct(base, 99)
    print(
        f"PERF-4 webhook received → brew command published (broker PUBACK) over {len(published)} orders: "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms (mean {statistics.mean(published):.1f}); first target p99 < 50 ms"
    )
    print(
        f"PERF-4 for comparison, back to back (the previous order's acknowledgement and capture running "
        f"beside each webhook) over {len(beside)} orders: p50 {pct(beside, 50):.1f} ms, p99 {pct(beside, 99):.1f} ms"
    )
    print(
        f"PERF-4 webhook received → command arrived at the machine: p50 {pct(latencies, 50):.1f} ms, "
        f"p99 {pct(latencies, 99):.1f} ms (includes the broker's delivery to the device)"
    )
    print(
        f"PERF-4 baseline bare MQTT publish→machine: p50 {bp50:.2f} ms, p99 {bp99:.2f} ms; "
        f"ratio p50 {p50 / max(bp50, 0.001):.1f}x"
    )
    stages: dict[str, list[float]] = {
        "webhook request → delivery stored": [],
        "delivery stored → delivery processed": [],
        "→ brew task started": [],
        "→ published": [],
        AT_MACHINE: [],
    }
    for order in orders:
        received = (
            WebhookDelivery.objects.filter(provider_payment_id=order.payment.provider_payment_id)
            .values_list("received_at", flat=True)
            .first()
        )
        command = BrewCommand.objects.get(order=order)
        got = machine.received_at[str(order.pk)]
        stages["webhook request → delivery stored"].append((received.timestamp() - started[str(order.pk)]) * 1000)
        stages["delivery stored → delivery processed"].append((command.created_at - received).total_seconds() * 1000)
        stages["→ brew task started"].append((command.sent_at - command.created_at).total_seconds() * 1000)
        stages["→ published"].append((command.published_at - command.sent_at).total_seconds() * 1000)
        stages[AT_MACHINE].append((got - command.published_at.timestamp()) * 1000)
    print(
        "PERF-4 stages (p50/p99 ms): " + "; ".join(f"{k} {pct(v, 50):.1f}/{pct(v, 99):.1f}" for k, v in stages.items())
    )

    # --- PERF-4 target: p99 ≤ 2 × the sum of its parts' bare baselines, all measured in this run ------
    bare = bare_parts.parts
    print(
        "PERF-4 bare baselines (p50/p99 ms, "
        + f"{len(bare[CELERY_HOP])} each, one of each after each order of the path): "
        + "; ".join(f"{k} {pct(v, 50):.2f}/{pct(v, 99):.2f}" for k, v in bare.items())
    )
    from core.tasks import ping

    with_result = timed_ms(lambda i: ping.apply_async(args=[i], queue="brew").get(timeout=30), BARE_SAMPLES)
    print(
        f"PERF-4 for comparison, not in the sum: a Celery round trip through the result backend (the "
        f"baseline before issue 19; the webhook path waits for no result) p50/p99 "
        f"{pct(with_result, 50):.2f}/{pct(with_result, 99):.2f} ms"
    )
    # The same parts sampled back to back in a tight loop (how they were measured before: warm caches
    # and connections, nothing else between two samples), for comparison only.
    tight = BareParts(web, yk_url, auth, orders[0].payment.provider_payment_id, sims.prefix, machine, mqtt_port)
    try:
        for _ in range(BARE_SAMPLES):
            tight.sample()
    finally:
        tight.close()
    tight99 = sum(pct(v, 99) for v in tight.parts.values())
    print(
        f"PERF-4 for comparison, not the target: the bare parts sampled in a tight loop ({BARE_SAMPLES} each): "
        + "; ".join(f"{k} {pct(v, 50):.2f}/{pct(v, 99):.2f}" for k, v in tight.parts.items())
        + f"; p99 sum {tight99:.1f} ms, the path's p99 = {p99 / tight99:.2f} × that"
    )
    sum50 = sum(pct(v, 50) for v in bare.values())
    sum99 = sum(pct(v, 99) for v in bare.values())
    print(
        f"PERF-4 ratio: p99 {p99:.1f} ms = {p99 / sum99:.2f} × the sum of the bare p99s ({sum99:.1f} ms); "
        f"p50 {p50:.1f} ms = {p50 / sum50:.2f} × the sum of the bare p50s ({sum50:.1f} ms); target p99 ratio ≤ 2 "
        f"(back to back, not the target: p99 {pct(beside, 99) / sum99:.2f} ×)"
    )
    # Each measured segment against the bare parts it contains: where the time above bare goes.
    segments = {
        "web (request → delivery stored: view + provider GET + INSERT/COMMIT)": (
            stages["webhook request → delivery stored"],
            ["Django view", "provider GET", "INSERT + COMMIT"],
        ),
        "queue (delivery stored → command claimed: commit, Celery hop, the delivery's transaction)": (
            [
                a + b
                for a, b in zip(
                    stages["delivery stored → delivery processed"], stages["→ brew task started"], strict=True
                )
            ],
            [CELERY_HOP],
        ),
        "publish (task started → broker PUBACK)": (stages["→ published"], ["MQTT publish (PUBACK)"]),
    }
    excess = {
        name: pct(values, 99) - sum(pct(bare[part], 99) for part in parts) for name, (values, parts) in segments.items()
    }
    print(
        "PERF-4 p99 above its bare parts, per segment (ms): "
        + "; ".join(f"{name} {value:+.1f}" for name, value in excess.items())
    )
    print(f"PERF-4 most of the difference: {max(excess, key=lambda k: excess[k])}")
    wait_settled(every)
    assert Order.objects.filter(pk__in=[o.pk for o in every], status=OrderStatus.SUCCESSFUL).count() == len(every)
    assert len({c["order_id"] for c in machine.brewed.values()} & {str(o.pk) for o in every}) == len(every)

    # --- throughput under gunicorn: webhook vs a bare Django JSON view on the same server -------------
    time.sleep(2)  # let the captures of the latency phase drain
    succeeded = [
        {
            "type": "notification",
            "event": "payment.succeeded",
            "object": http.get(f"{yk_url}/payments/{o.payment.provider_payment_id}", auth=auth, timeout=10).json(),
        }
        for o in every
    ]
    assert succeeded[0]["object"]["status"] == "succeeded"
    load(f"{web}/bench/bare/", None, 1.0)  # warm-up
    cpu: dict[str, str] = {}

    def timed(name: str, url: str, bodies: list[dict] | None) -> tuple[float, int, int]:
        before = cpu_ms(groups())
        rps, errors, sent = load(url, bodies, SECONDS)
        cpu[name] = cpu_per_request(before, cpu_ms(groups()), sent)
        return rps, errors, sent

    bare_rps, bare_err, _ = timed("bare view", f"{web}/bench/bare/", None)
    # First deliveries: each authenticated by re-reading the payment from YooKassa, stored, enqueued,
    # while the Celery worker processes them on the same two cores.
    half = len(succeeded) // 2
    fresh_rps, fresh_err, fresh_n = timed(
        "first deliveries, worker busy", f"{web}/webhooks/yookassa/", succeeded[:half]
    )
    # The endpoint alone: the worker is stopped, deliveries wait in Redis (processed afterwards).
    worker.stop()
    alone_rps, alone_err, alone_n = timed(
        "first deliveries, endpoint alone", f"{web}/webhooks/yookassa/", succeeded[half:]
    )
    # Redeliveries of stored events (what providers send on every retry): answered from the log.
    dup_rps, dup_err, dup_n = timed("redeliveries", f"{web}/webhooks/yookassa/", succeeded[:fresh_n])
    print(
        f"PERF-4 gunicorn (2 workers x 4 threads, 8 concurrent clients): bare Django JSON view {bare_rps:.0f} req/s; "
        f"webhook first deliveries with the worker busy on the same cores {fresh_rps:.0f} req/s "
        f"(ratio {fresh_rps / bare_rps:.2f}, {fresh_n} requests); first deliveries, endpoint alone "
        f"{alone_rps:.0f} req/s (ratio {alone_rps / bare_rps:.2f}, {alone_n} requests); redeliveries "
        f"{dup_rps:.0f} req/s (ratio {dup_rps / bare_rps:.2f}, {dup_n} requests); target ratio >= 0.3"
    )
    for name, text in cpu.items():
        print(f"PERF-4 CPU per request, {name}: {text}")
    assert bare_err == fresh_err == alone_err == dup_err == 0
    # Nothing stored is lost: the test harness purges the queue when it starts a worker (as a broker
    # flush would), and the periodic re-enqueue of unprocessed deliveries brings every one back.
    restart_worker()
    from payments.tasks import deliveries_retry

    stored = WebhookDelivery.objects.filter(event="payment.succeeded")
    # Every answered request was stored; requests still in flight when a timed phase ended were
    # stored too without being counted, so the count may be a little higher (never above what was sent).
    assert fresh_n + alone_n <= stored.count() <= half + len(succeeded[half:])
    deadline = time.monotonic() + 180
    while stored.filter(processed_at__isnull=True).exists():  # the periodic job, run every 10 s here
        assert time.monotonic() < deadline, "queued deliveries were not processed after the restart"
        deliveries_retry.delay(10).get(timeout=30)
        time.sleep(10)
