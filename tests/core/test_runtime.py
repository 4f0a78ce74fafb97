"""Long-lived processes freeze their start-up heap (core/runtime.py): gunicorn workers through config.wsgi,
Celery pool processes and solo/threads workers through config.celery's signals. Each check runs in a
fresh interpreter, as the server would load it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> str:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"}
    result = subprocess.run(
        [sys.executable, "-c", "import gc\n" + code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_the_wsgi_application_freezes_what_it_loaded() -> None:
    before, after = _fresh(
        "print(gc.get_freeze_count())\nimport config.wsgi\nprint(gc.get_freeze_count())"
    ).splitlines()
    assert int(before) == 0
    assert int(after) > 50_000  # Django, the apps and their libraries


def test_celery_pool_processes_and_workers_freeze_on_start() -> None:
    out = _fresh(
        "import django; django.setup()\n"
        "from celery.signals import worker_process_init, worker_ready\n"
        "import config.celery\n"
        "print(gc.get_freeze_count())\n"
        "worker_process_init.send(sender=None)\n"
        "print(gc.get_freeze_count())\n"
        "gc.unfreeze()\n"
        "worker_ready.send(sender=None)\n"
        "print(gc.get_freeze_count())"
    )
    before, in_pool_process, in_worker = (int(n) for n in out.splitlines())
    assert before == 0
    assert in_pool_process > 50_000 and in_worker > 50_000
