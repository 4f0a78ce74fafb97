"""`bin/start` run by hand (issue 9): no PYTHON needed, and SANDBOX=1 means the simulators."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROBE = "from django.conf import settings as s; print(s.YOOKASSA_API_URL); print(s.VENDISTA_API_URL)"


def _run(**env: str) -> subprocess.CompletedProcess[str]:
    keep = {k: v for k, v in os.environ.items() if not k.endswith("_API_URL") and k not in ("PYTHON", "SANDBOX")}
    # A PATH with no `python` on it: bin/start must find the checkout's virtualenv by itself.
    keep["PATH"] = "/usr/bin:/bin"
    return subprocess.run(
        ["bin/start", "manage", "shell", "--no-imports", "-c", PROBE],
        cwd=ROOT,
        env={**keep, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_python_set_it_uses_the_checkouts_virtualenv_and_real_providers() -> None:
    result = _run()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["https://api.yookassa.ru/v3", "https://api.vendista.ru:99"]


def test_sandbox_1_points_unset_provider_urls_at_the_simulators() -> None:
    result = _run(SANDBOX="1", SANDBOX_BASE_PORT="8100", VENDISTA_API_URL="http://127.0.0.1:1/mine")
    assert result.returncode == 0, result.stderr
    yookassa, vendista = result.stdout.split()
    assert yookassa.startswith("http://127.0.0.1:81"), yookassa
    assert vendista == "http://127.0.0.1:1/mine"  # an explicitly set URL wins


def _procfile_workers() -> dict[str, list[str]]:
    """Procfile process → the queues its `bin/start worker QUEUES CONCURRENCY` consumes."""
    workers = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        args = command.split()
        if args[:2] == ["bin/start", "worker"]:
            assert len(args) == 4 and args[3].isdigit(), line  # queues and concurrency, always explicit
            workers[name.strip()] = args[2].split(",")
    return workers


def test_make_run_gives_brews_and_money_their_own_workers() -> None:
    """Issue 19.3: a capture or a brew never waits behind a multi-hour sync on a shared worker."""
    from django.conf import settings

    workers = _procfile_workers()
    queues = [q for consumed in workers.values() for q in consumed]
    assert sorted(queues) == sorted(q.name for q in settings.CELERY_TASK_QUEUES)  # each queue exactly once
    assert workers["worker-brew"] == ["brew"]
    assert workers["worker-payments"] == ["payments"]
    assert workers["worker-sync"] == ["sync", "default"]
    assert workers["worker-repricer"] == ["repricer"]


def test_bin_start_worker_without_queues_consumes_every_queue() -> None:
    import re

    from django.conf import settings

    script = (ROOT / "bin" / "start").read_text()
    default = re.search(r'queues="\$\{1:-([a-z,]+)\}"', script)
    assert default, "bin/start worker has no default queue list"
    assert sorted(default[1].split(",")) == sorted(q.name for q in settings.CELERY_TASK_QUEUES)
