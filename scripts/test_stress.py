"""`make test-stress`: the test suite on a busy machine, as CI's shared 2-core machine can be.

While pytest runs (the same command as `make test`), this keeps the CPU busy in two shapes:

- steady: one burner process per core (``STRESS_BURNERS``, default ``os.cpu_count()``), a pure
  Python busy loop at the same priority as the tests;
- bursty: one process at a time, started again and again (``STRESS_BURST_PAUSE`` seconds apart,
  default 2): a fresh interpreter that imports Django and migrates a scratch database from zero
  (or runs ``manage.py check`` every other time) — what other Django processes starting and
  migrating beside the suite do to its timing.

``STRESS_SHAPE`` picks the shapes: ``both`` (the default), ``steady`` (burners only) or ``bursty``
(the Django processes only). At the end it lists the tests that failed (from pytest's JUnit report)
and exits with pytest's code. Everything started here is stopped by PID, whatever happens. Services the environment does
not name are started once here (tests/bootstrap.py's embedded services) so the bursty migrations and
the suite use the same PostgreSQL.

    make test-stress                              # the whole suite
    make test-stress PYTEST_ARGS="tests/payments" # a part
    make bench-stress PYTEST_ARGS="-k perf5"      # a benchmark on the busy machine (``--bench``)
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BURN = "while True:\n    pass\n"


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        args, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _scratch_url(database_url: str) -> str:
    parts = urlsplit(database_url)
    return urlunsplit(parts._replace(path=f"/stress_scratch_{os.getpid()}"))


class Burst(threading.Thread):
    """Start one short-lived Django process after another until told to stop."""

    def __init__(self, env: dict[str, str], pause: float) -> None:
        super().__init__(daemon=True)
        self.env = env
        self.pause = pause
        self.done = threading.Event()
        self.current: subprocess.Popen[bytes] | None = None
        self.runs = 0
        self.scratch = _scratch_url(env["DATABASE_URL"])

    def _drop_scratch(self, create: bool) -> None:
        import psycopg

        parts = urlsplit(self.scratch)
        name = parts.path.lstrip("/")
        admin = urlunsplit(parts._replace(path="/postgres"))
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            if create:
                conn.execute(f'CREATE DATABASE "{name}"')

    def run(self) -> None:
        env = {**self.env, "DJANGO_SETTINGS_MODULE": "config.settings.base", "DEBUG": "1"}
        for n in itertools.count():
            if self.done.is_set():
                return
            if n % 2 == 0:
                try:
                    self._drop_scratch(create=True)
                except Exception as exc:  # the suite goes on; a stressor that cannot stress says so
                    print(f"stress: scratch database not made ({exc}); checks only", file=sys.stderr)
                    command = [sys.executable, "manage.py", "check"]
                else:
                    command = [sys.executable, "manage.py", "migrate", "--noinput", "-v", "0"]
                env["DATABASE_URL"] = self.scratch
            else:
                command = [sys.executable, "manage.py", "check"]
            self.current = _start(command, env)
            while self.current.poll() is None and not self.done.is_set():
                time.sleep(0.2)
            _stop(self.current)
            self.runs += 1
            self.done.wait(self.pause)

    def stop(self) -> None:
        self.done.set()
        if self.current is not None:
            _stop(self.current)
        self.join(15)
        try:
            self._drop_scratch(create=False)
        except Exception as exc:
            print(f"stress: scratch database not dropped ({exc})", file=sys.stderr)


def failed_tests(report: Path) -> list[str]:
    if not report.exists():
        return []
    failed = []
    for case in ET.parse(report).getroot().iter("testcase"):  # noqa: S314  # pytest's own report
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('classname', '')}::{case.get('name', '')}")
    return failed


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the burners and the suite as Ctrl-C does (the finally below)


def main(argv: list[str]) -> int:
    from tests.bootstrap import Services

    signal.signal(signal.SIGTERM, _terminate)

    bench = bool(argv) and argv[0] == "--bench"
    if bench:
        argv = argv[1:]

    services = Services()
    burners: list[subprocess.Popen[bytes]] = []
    burst: Burst | None = None
    env = os.environ
    try:
        for said in services.start_missing(env):
            print(f"stress: started {said}", flush=True)
        plain_env = dict(env)
        shape = env.get("STRESS_SHAPE", "both")
        if shape not in ("both", "steady", "bursty"):
            raise SystemExit(f"STRESS_SHAPE must be both, steady or bursty, not {shape!r}")
        count = int(env.get("STRESS_BURNERS", os.cpu_count() or 2)) if shape != "bursty" else 0
        burners = [_start([sys.executable, "-c", BURN], plain_env) for _ in range(count)]
        if shape != "steady":
            burst = Burst(plain_env, float(env.get("STRESS_BURST_PAUSE", "2")))
            burst.start()
        bursty = "one bursty Django process" if burst is not None else "no bursty process"
        print(f"stress ({shape}): {count} CPU burners and {bursty} beside the suite", flush=True)
        with tempfile.TemporaryDirectory(prefix="mo-stress-") as tmp:
            report = Path(tmp) / "junit.xml"
            workers = env.get("TEST_WORKERS", "2")
            if bench:  # as `make bench` runs them: one process, output shown
                paths = [] if any(a.startswith("tests/") for a in argv) else ["tests/bench"]  # as `make bench`
                command = [sys.executable, "-m", "pytest", *paths, "-p", "tests.bootstrap", "-p", "no:xdist"]
                command += ["-s", "-o", "addopts=", f"--junitxml={report}"]
            else:
                command = [sys.executable, "-m", "pytest", "-n", workers, "--dist", "loadgroup"]
                command += [f"--junitxml={report}"]
            code = subprocess.call([*command, *argv], cwd=ROOT, env=plain_env)
            failed = failed_tests(report)
        runs = burst.runs if burst is not None else 0
    finally:
        if burst is not None:
            burst.stop()
        for proc in burners:
            _stop(proc)
        services.stop()
    print(f"\nstress: pytest exited {code}; {runs} bursty processes ran beside it", flush=True)
    if failed:
        print("stress: failed under load:\n  " + "\n  ".join(failed), flush=True)
    else:
        print("stress: no test failed under load", flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
