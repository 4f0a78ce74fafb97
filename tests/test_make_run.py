"""`make run`'s script from a clean environment: local Redis, SQLite, web, worker, beat, sandbox.

Proves what a newcomer sees: the admin answers, /health/ready/ is 200 with every dependency "ok",
and the beat-scheduled heartbeat is executed by the worker. Everything it starts is stopped
through the script's own PID (SIGTERM → honcho stops its children, the script stops Redis).
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_make_run_script_brings_up_a_working_platform(tmp_path: Path) -> None:
    web_port, redis_port = _free_port(), _free_port()
    keep = ("PATH", "HOME", "LANG", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update({
        "DATABASE_URL": f"sqlite:///{tmp_path / 'run.sqlite3'}",
        "WEB_BIND": f"127.0.0.1:{web_port}",
        "LOCAL_REDIS_PORT": str(redis_port),
        "SANDBOX_BASE_PORT": str(random.randint(20000, 40000)),
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}",
    })
    log = open(tmp_path / "run.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([sys.executable, "scripts/dev.py"], cwd=ROOT, env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{web_port}"
    try:
        deadline = time.monotonic() + 120
        ready = None
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "run.log").read_text()[-3000:]
            try:
                ready = requests.get(f"{base}/health/ready/", timeout=3)
                if ready.status_code == 200 and ready.json().get("worker_heartbeat"):
                    break
            except requests.ConnectionError:
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
