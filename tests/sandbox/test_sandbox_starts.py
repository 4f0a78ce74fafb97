"""The sandbox works from every documented start, not only `make run` (issue 21): the simulators'
app is installed only with SANDBOX=1, and every process of a SANDBOX=1 run, however started
(bin/start, compose, honcho), agrees on the Poster application secret without being handed one."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from tests.support.processes import Processes, free_port, wait_port

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "from django.conf import settings as s; "
    "print(s.POSTER_APP_ID or '-', s.POSTER_APP_SECRET or '-', 'sandbox' in s.INSTALLED_APPS)"
)


def _clean_env(**env: str) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")}
    production = {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "SECRET_KEY": "one-deployment-secret-key-" + "x" * 30,
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "PYTHON": sys.executable,
    }
    return {**keep, **production, **env}


def _probe(**env: str) -> list[str]:
    result = subprocess.run(
        ["bin/start", "manage", "shell", "--no-imports", "-c", PROBE],
        cwd=ROOT,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.split()


def test_every_sandbox_process_derives_the_same_poster_secret() -> None:
    web = _probe(SANDBOX="1")
    simulators = _probe(SANDBOX="1", SANDBOX_BASE_PORT="8300")  # another process, another start
    assert web == simulators
    app_id, secret, installed = web
    assert app_id == "sandbox-app" and len(secret) == 64 and installed == "True"
    # Another deployment (another SECRET_KEY) has another secret; an explicit one always wins.
    assert _probe(SANDBOX="1", SECRET_KEY="another-key-" + "y" * 40)[1] != secret
    assert _probe(SANDBOX="1", POSTER_APP_SECRET="mine")[1] == "mine"


def test_without_sandbox_nothing_of_it_is_installed_or_invented() -> None:
    assert _probe() == ["-", "-", "False"]
    assert _probe(SANDBOX="0") == ["-", "-", "False"]


def test_the_poster_simulator_starts_on_its_own_without_a_secret_in_the_environment() -> None:
    """`python -m sandbox.poster` (the PERF-6 benchmark's process) used to raise KeyError."""
    port = free_port()
    env = _clean_env(DEBUG="1")
    env.pop("SECRET_KEY")
    with Processes() as procs:
        proc = procs.popen(
            [sys.executable, "-m", "sandbox.poster", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        wait_port(proc, port, timeout=60, name="python -m sandbox.poster")
        assert proc.poll() is None
