"""Processes that tests and benchmarks start: always stopped (by PID, whatever happens), readiness
waits that tolerate a slow start, and free ports that cannot be taken by an outgoing connection."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parents[2]
# Linux hands out outgoing (ephemeral) ports from 32768 up: a port below that is taken only by a listener.
_LOW, _HIGH = 20000, 32000


def free_port() -> int:
    """A loopback port free now and below the ephemeral range (binding to port 0 gives one inside it,
    which any outgoing connection of this busy machine may take before our process binds it)."""
    for _ in range(500):
        port = random.randint(_LOW, _HIGH)
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        return port
    raise RuntimeError("no free loopback port below the ephemeral range")


def stop(proc: subprocess.Popen[Any], timeout: float = 20.0) -> None:
    """SIGTERM the process (its whole session when it has one), SIGKILL if it lingers; by PID only."""
    if proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    except PermissionError:  # not a group leader of its own (no start_new_session)
        proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.kill()
        proc.wait(10)


def wait_ready(
    proc: subprocess.Popen[Any],
    ready_url: str,
    *,
    method: str = "get",
    timeout: float = 60.0,
    probe_timeout: float = 5.0,
    name: str = "process",
) -> None:
    """Until ``ready_url`` answers at all (any status). A refused connection, a reset or a probe that
    times out (a freshly spawned gunicorn may take seconds to answer its first request) just means
    "not yet"; the process exiting or the deadline passing fails."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            requests.request(method, ready_url, timeout=probe_timeout)
            return
        except requests.RequestException:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode} before it was ready") from None
            if time.monotonic() >= deadline:
                raise AssertionError(f"{name} not ready at {ready_url} within {timeout:.0f} s") from None
            time.sleep(0.2)


def wait_port(proc: subprocess.Popen[Any], port: int, *, timeout: float = 30.0, name: str = "process") -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"{name} exited with {proc.returncode} before it listened") from None
            if time.monotonic() >= deadline:
                raise AssertionError(f"{name} did not listen on {port} within {timeout:.0f} s") from None
            time.sleep(0.1)


def wait_output(proc: subprocess.Popen[Any], text: str, *, timeout: float = 60.0, name: str = "process") -> None:
    """Until the process prints a line containing ``text`` on its stdout (opened with ``stdout=PIPE,
    text=True``); its output keeps being drained afterwards so it never blocks on a full pipe."""
    import threading

    seen = threading.Event()

    def drain() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if text in line:
                seen.set()

    threading.Thread(target=drain, daemon=True, name=f"drain-{proc.pid}").start()
    deadline = time.monotonic() + timeout
    while not seen.wait(0.2):
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode} before printing {text!r}")
        if time.monotonic() >= deadline:
            raise AssertionError(f"{name} did not print {text!r} within {timeout:.0f} s")


class Processes:
    """Every process started through it is stopped on exit, however the block ends::

    with Processes() as procs:
        web = procs.spawn([...], env, ready_url=...)
    """

    def __init__(self) -> None:
        self.started: list[subprocess.Popen[Any]] = []

    def popen(self, args: Sequence[str], **kwargs: Any) -> subprocess.Popen[Any]:
        kwargs.setdefault("cwd", ROOT)
        kwargs.setdefault("start_new_session", True)
        proc: subprocess.Popen[Any] = subprocess.Popen(list(args), **kwargs)
        self.started.append(proc)  # registered before anything can fail: it is always stopped
        return proc

    def spawn(
        self,
        args: Sequence[str],
        env: dict[str, str],
        ready_url: str,
        *,
        method: str = "get",
        timeout: float = 60.0,
        probe_timeout: float = 5.0,
        **kwargs: Any,
    ) -> subprocess.Popen[Any]:
        proc = self.popen(args, env=env, **kwargs)
        wait_ready(
            proc, ready_url, method=method, timeout=timeout, probe_timeout=probe_timeout, name=" ".join(list(args)[:3])
        )
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.started):
            stop(proc)

    def __enter__(self) -> Processes:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_all()


@contextlib.contextmanager
def processes() -> Iterator[Processes]:
    with Processes() as procs:
        yield procs
