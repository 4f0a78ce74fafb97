"""A private Mosquitto for a test: the shipped production config (deploy/mosquitto.conf and
deploy/mosquitto.acl) with a temporary password file, on a free loopback port. Stopped by its PID."""

from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"


def available() -> bool:
    return Path(MOSQUITTO).exists() and Path(MOSQUITTO_PASSWD).exists()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def shipped_config(tmp: Path, port: int) -> str:
    """deploy/mosquitto.conf with its container paths pointed into ``tmp`` and the port replaced."""
    replace = {
        "listener": f"listener {port} 127.0.0.1",
        "password_file": f"password_file {tmp / 'passwd'}",
        "acl_file": f"acl_file {tmp / 'mosquitto.acl'}",
        "persistence_location": f"persistence_location {tmp}/",
    }
    lines = []
    for line in (ROOT / "deploy" / "mosquitto.conf").read_text().splitlines():
        key = line.split()[0] if line.strip() and not line.startswith("#") else ""
        lines.append(replace.get(key, line))
    # Started as root, Mosquitto would switch to the "mosquitto" user, which cannot read pytest's
    # private temp directory; keep the current user (a deployment detail, not an access rule).
    lines.append(f"user {getpass.getuser()}")
    return "\n".join(lines) + "\n"


@contextmanager
def private_broker(tmp: Path, users: dict[str, str]) -> Iterator[int]:
    """Yield the port of a Mosquitto running the shipped config with ``users`` (name → password)."""
    passwd = tmp / "passwd"
    for i, (user, password) in enumerate(users.items()):
        subprocess.run(
            [MOSQUITTO_PASSWD, *(["-c"] if i == 0 else []), "-b", str(passwd), user, password],
            check=True,
            capture_output=True,
        )
    shutil.copy(ROOT / "deploy" / "mosquitto.acl", tmp / "mosquitto.acl")
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(shipped_config(tmp, port))
    with _running(tmp, conf, port):
        yield port


@contextmanager
def anonymous_broker(tmp: Path) -> Iterator[int]:
    """Yield the port of a Mosquitto with the shipped settings but no logins or ACL (any topic
    prefix, any client): for tests of the production broker's delivery semantics, not of its access rules."""
    keep = [
        line
        for line in (ROOT / "deploy" / "mosquitto.conf").read_text().splitlines()
        if line.split()[:1]
        and not line.startswith("#")
        and line.split()[0] not in ("listener", "allow_anonymous", "password_file", "acl_file", "persistence_location")
    ]
    port = _free_port()
    conf = tmp / "mosquitto.conf"
    conf.write_text(
        "\n".join([f"listener {port} 127.0.0.1", "allow_anonymous true", f"persistence_location {tmp}/", *keep])
        + f"\nuser {getpass.getuser()}\n"
    )
    with _running(tmp, conf, port):
        yield port


@contextmanager
def _running(tmp: Path, conf: Path, port: int) -> Iterator[None]:
    """Mosquitto on ``conf`` until the block ends; stopped by its own PID whatever happens."""
    log = (tmp / "mosquitto.log").open("wb")
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"mosquitto did not start: {(tmp / 'mosquitto.log').read_text()}") from None
                time.sleep(0.05)
        yield
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        log.close()
