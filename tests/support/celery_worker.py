"""A real Celery worker process on the real Redis broker, pointed at the test database.

Tests that cross a queue use it with ``transactional_db`` (the worker only sees committed rows).
It is stopped by its own PID (its process group, which it leads), never by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


class WorkerProcess:
    def __init__(
        self,
        *,
        queues: str = "brew,payments,sync,repricer,default",
        concurrency: int = 2,
        pool: str = "prefork",
        extra_env: dict[str, str] | None = None,
        log_path: Path | None = None,
        purge: bool = True,
        extra_args: list[str] | None = None,
    ) -> None:
        self.queues = queues
        self.concurrency = concurrency
        self.pool = pool
        self.extra_env = extra_env or {}
        self.log_path = log_path
        self.purge = purge  # False: a worker taking over from a killed one keeps the queued messages
        self.extra_args = extra_args or []  # e.g. ["-B", ...]: the beat embedded in this worker
        self.process: subprocess.Popen[bytes] | None = None
        self._log = None

    def start(self, *, ready_timeout: float = 60.0) -> WorkerProcess:
        from config.celery import app

        if self.purge:
            app.control.purge()  # no stale messages from an earlier test
        db = settings.DATABASES["default"]
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": _database_url(db, connection.settings_dict["NAME"]),
            **self.extra_env,
        }
        tmp = Path(os.environ.get("TMPDIR", "/tmp"))
        log_path = self.log_path or tmp / f"celery-test-{os.getpid()}-{time.time_ns()}.log"
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                self.queues,
                "-c",
                str(self.concurrency),
                "-P",
                self.pool,
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
                "-n",
                f"test-{os.getpid()}-{time.time_ns()}@%h",
                *self.extra_args,
            ],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_ready(ready_timeout)
        except BaseException:
            # A worker that never became ready must not linger and take later tests' tasks.
            self.stop()
            raise
        return self

    def _wait_ready(self, timeout: float) -> None:
        from core.tasks import ping

        # Answered on a queue this worker consumes (a brew-only worker never sees ``default``).
        queues = self.queues.split(",")
        queue = "default" if "default" in queues else queues[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"celery worker exited early; see {self.log_path}:\n{self.log()}")
            try:
                if ping.apply_async((1,), queue=queue).get(timeout=2) == 2:
                    return
            except Exception:
                time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready in {timeout}s; log:\n{self.log()}")

    def log(self) -> str:
        return self.full_log()[-5000:]

    def full_log(self) -> str:
        if self.log_path and self.log_path.exists():
            return self.log_path.read_text(errors="replace")
        return ""

    def kill(self) -> None:
        """SIGKILL the whole worker (main process and its pool children): a crash, not a shutdown."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


def procfile_workers() -> dict[str, tuple[str, int]]:
    """The Procfile's workers: process name → (queues, concurrency) of its ``bin/start worker Q C``, so
    tests and benchmarks start the workers production (``make run``) starts."""
    out = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        args = command.split()
        if args[:2] == ["bin/start", "worker"]:
            out[name.strip()] = (args[2], int(args[3]))
    return out


def _database_url(db: dict[str, object], name: str) -> str:
    user = db.get("USER") or ""
    password = db.get("PASSWORD") or ""
    auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{name}"
