"""`make run`'s script from a clean environment: local Redis, SQLite, web, worker, beat, sandbox,
MQTT listener — and the newcomer's paths of the payments and vending apps on top of it.

Proves what a newcomer sees: the admin answers, /health/ready/ is 200 with every dependency "ok",
and the beat-scheduled heartbeat is executed by the worker. Everything it starts is stopped
through the script's own PID (SIGTERM → honcho stops its children, the script stops Redis).
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _free_sandbox_base() -> int:
    """A base port whose every simulator port is free now, below Linux's ephemeral range (32768+), so
    no outgoing connection of this busy machine can take one of them before the sandbox binds it."""
    from sandbox.registry import simulators

    offsets = [spec.port_offset for spec in simulators()]
    for _ in range(200):
        base = random.randint(20000, 32000)
        try:
            for offset in offsets:
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", base + offset))
        except OSError:
            continue
        return base
    raise RuntimeError("no free sandbox port range")


def _buy(base: str, code: str, pay_button: str) -> dict:
    session = requests.Session()
    menu = session.get(f"{base}/q/{code}/", timeout=10)
    assert menu.status_code == 200, menu.text[:500]
    token = session.cookies.get("csrftoken", "")
    choice = re.search(r'name="choice" value="(\d+):(\w+)"', menu.text)
    assert choice, menu.text[:1000]
    provider_page = session.post(f"{base}/q/{code}/", data={"csrfmiddlewaretoken": token, "drink": choice[1],
                                                            "size": choice[2]}, timeout=20,
                                 headers={"Referer": f"{base}/q/{code}/"})
    assert provider_page.status_code == 200 and pay_button in provider_page.text, provider_page.text[:500]
    action = "card" if "ЮKassa" in provider_page.text else "pay"  # the two simulators' pay buttons
    status_page = session.post(provider_page.url, data={"action": action}, timeout=30)
    assert re.search(r"/orders/[0-9a-f-]{36}/$", status_page.url), status_page.url
    json_url = status_page.url + "status.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        data = session.get(json_url, timeout=10).json()
        if data["final"]:
            return data
        time.sleep(0.5)
    raise AssertionError(f"order never finished: {data}")


def test_make_run_script_brings_up_a_working_platform(tmp_path: Path) -> None:
    web_port, redis_port = _free_port(), _free_port()
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "WEB_BIND": f"127.0.0.1:{web_port}",
        "LOCAL_REDIS_PORT": str(redis_port),
        "SANDBOX_BASE_PORT": str(_free_sandbox_base()),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
        "MQTT_TOPIC_PREFIX": f"demo-test-{uuid.uuid4().hex[:8]}",  # Mosquitto is shared
    })
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "scripts/dev.py"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{web_port}"
    try:
        deadline = time.monotonic() + 120
        ready = None
        while time.monotonic() < deadline:
            if process.poll() is not None:  # say which process stopped, and what it said
                log = (tmp_path / "run.log").read_text()
                first = next((line.split("|", 1)[1].split()[0] for line in log.splitlines()
                              if "stopped (rc=" in line and "rc=-15" not in line), "?")  # e.g. sandbox.1
                said = [line for line in log.splitlines() if line.split("|", 1)[0].split()[-1:] == [first]]
                pytest.fail(f"make run stopped: {first} exited first; its output:\n" + "\n".join(said[-40:])
                            + "\n--- end of the log ---\n" + log[-2000:])
            try:
                ready = requests.get(f"{base}/health/ready/", timeout=3)
                if ready.status_code == 200 and ready.json().get("worker_heartbeat"):
                    break
            except (requests.ConnectionError, requests.Timeout):  # the web is still booting
                pass
            time.sleep(1)
        output = (tmp_path / "run.log").read_text()
        assert ready is not None and ready.status_code == 200, output[-3000:]
        body = ready.json()
        assert {name: c["status"] for name, c in body["checks"].items()} == {
            "database": "ok", "redis": "ok", "broker": "ok"}
        assert body["worker_heartbeat"], "the beat-scheduled heartbeat never ran on the worker"
        assert "heartbeat executed by worker" in output

        # The printed admin password logs in.
        password = output.split("password: ", 1)[1].split()[0]
        session = requests.Session()
        login = session.get(f"{base}/admin/login/", timeout=5)
        token = login.cookies["csrftoken"]
        response = session.post(
            f"{base}/admin/login/?next=/admin/", timeout=5, headers={"Referer": f"{base}/admin/login/"},
            data={"username": "admin", "password": password, "csrfmiddlewaretoken": token},
        )
        assert response.status_code == 200 and "Site administration" in response.text

        # Payments "done when": both demo QR URLs reach "drink ready" in the sandbox.
        assert f"{base}/q/demo-espresso/" in output, output[-3000:]
        mqtt = _buy(base, "demo-espresso", 'id="pay-card"')
        assert mqtt["status"] == "successful" and "Напиток готов" in mqtt["text"], mqtt
        tbank = _buy(base, "demo-tmetr", 'id="pay-card"')
        assert tbank["status"] == "successful", tbank

        # Vending "done when": a sync of the demo account fills the owner report.
        token = requests.post(f"{base}/api/v1/auth/token/", json={"username": "admin", "password": password},
                              timeout=10).json()["token"]
        auth = {"Authorization": f"Token {token}"}
        empty = requests.get(f"{base}/api/v1/vending/reports/daily", headers=auth, timeout=10).json()
        assert empty["has_data"] is False
        run_id = requests.post(f"{base}/api/v1/vending/sync", headers=auth, json={}, timeout=30).json()["run_id"]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            run = requests.get(f"{base}/api/v1/sync-runs/{run_id}/", headers=auth, timeout=10).json()
            if run["status"] in ("succeeded", "failed"):
                break
            time.sleep(1)
        assert run["status"] == "succeeded" and run["items_done"] > 0, run
        report = requests.get(f"{base}/api/v1/vending/reports/daily", headers=auth, timeout=10).json()
        assert report["has_data"] and report["totals"]["transactions_count"] > 0, report

        # Kaspi "done when": the demo store logged in through the sandbox page in real Chromium and
        # shows products and orders.
        kaspi = f"{base}/api/v1/marketplaces/kaspi"
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            stores = requests.get(f"{kaspi}/stores/", headers=auth, timeout=10).json()["results"]
            orders = requests.get(f"{kaspi}/orders/", headers=auth, timeout=10).json()
            if stores and stores[0]["products_count"] > 0 and orders["count"] > 0:
                break
            time.sleep(2)
        assert stores and stores[0]["session_state"] == "ok", (stores, output[-3000:])
        assert stores[0]["products_count"] > 0 and orders["count"] > 0, stores
        products = requests.get(f"{kaspi}/products/", headers=auth, timeout=10).json()
        assert products["count"] == stores[0]["products_count"] and products["results"][0]["kaspi_product_id"]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
        log.close()
    # Nothing it started is left listening.
    for port in (web_port, redis_port):
        with socket.socket() as sock:
            assert sock.connect_ex(("127.0.0.1", port)) != 0, f"port {port} still open after stop"
