"""A Celery worker whose Redis is not up yet keeps retrying (with Celery's backoff, logged) and starts
consuming once Redis comes up; it never exits for it (issue 9)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings

from core.embedded import EmbeddedRedis, free_port

ROOT = Path(__file__).resolve().parents[2]


def test_retries_forever_is_configured() -> None:
    assert settings.CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP is True
    assert settings.CELERY_BROKER_CONNECTION_MAX_RETRIES is None  # Celery's default gives up after 100


def test_a_worker_started_before_redis_waits_for_it_and_then_runs(tmp_path: Path) -> None:
    port = free_port()
    url = f"redis://127.0.0.1:{port}/0"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "REDIS_URL": url,
        "CELERY_BROKER_URL": url,
        "CELERY_RESULT_BACKEND": url,
        "TEST_REDIS_DB_BASE": "0",
    }
    log_path = tmp_path / "worker.log"
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                "default",
                "-c",
                "1",
                "-P",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-l",
                "INFO",
                "-n",
                f"retry-{port}@%h",
            ],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    redis = None
    try:
        deadline = time.monotonic() + 30
        while "Trying again" not in log_path.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log_path.read_text()
            time.sleep(0.2)
        assert "Trying again" in log_path.read_text(), log_path.read_text()[-2000:]
        redis = EmbeddedRedis(tmp_path / "redis", port=port).start()
        deadline = time.monotonic() + 60
        while " ready." not in log_path.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log_path.read_text()[-2000:]
            time.sleep(0.3)
        assert " ready." in log_path.read_text(), log_path.read_text()[-2000:]
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
                worker.wait(5)
        if redis is not None:
            redis.stop()
