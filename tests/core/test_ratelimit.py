from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from core.exceptions import RateLimitTimeout
from core.ratelimit import Rate, RateLimiter

ROOT = Path(__file__).resolve().parents[2]

# Runs in a separate process: take slots as fast as the limiter grants them for `duration`
# seconds and print, for each grant, the clock just before and just after the atomic Redis call:
# the limiter's own timestamp for that grant lies between the two.
WORKER = """
import json, os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()
from core.ratelimit import Rate, RateLimiter
key, rate, duration = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
limiter = RateLimiter(key, Rate.per_second(rate))
print("ready", flush=True)
start_at = float(sys.stdin.readline())  # the parent's common start, sent once every worker is ready
while time.time() < start_at:
    time.sleep(0.001)
grants = []
while time.time() < start_at + duration:
    before = time.time()
    granted = limiter.try_acquire()
    after = time.time()
    if granted:
        grants.append((before, after))
    else:
        time.sleep(0.002)
print(json.dumps(grants))
"""


def _max_surely_in_window(grants: list[tuple[float, float]], window: float) -> int:
    """Most grants whose whole [before, after] interval lies inside one window of `window` s."""
    best = 0
    for start, _ in grants:
        best = max(best, sum(1 for b, a in grants if b >= start and a < start + window))
    return best


def test_rate_per_second_keeps_fractions_exact() -> None:
    assert Rate.per_second(12) == Rate(12, 1)
    assert Rate.per_second(1.5) == Rate(3, 2)
    assert Rate.per_second(0.5) == Rate(1, 2)
    with pytest.raises(ValueError):
        Rate.per_second(0)


def test_two_processes_share_one_limit() -> None:
    key, rate, duration = f"test:{uuid.uuid4()}", 12.0, 3.0
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "REDIS_URL": settings.REDIS_URL}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, key, str(rate), str(duration)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        # Wait until both have started Django (seconds on a loaded machine), then start them together.
        for proc in procs:
            assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        start_at = time.time() + 0.5
        for proc in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start_at}\n".encode())
            proc.stdin.flush()
        grants: list[tuple[float, float]] = []
        per_process = []
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            assert proc.returncode == 0, err.decode()
            taken = [tuple(pair) for pair in json.loads(out)]
            per_process.append(len(taken))
            grants.extend(taken)  # type: ignore[arg-type]
    finally:
        for proc in procs:  # stopped whatever happened (a failed readiness wait, a timeout)
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    # Never more than N in any one-second window, counting only grants known to be inside it
    # (a process may be descheduled around the Redis call on a loaded machine).
    assert _max_surely_in_window(grants, 1.0) <= rate
    # ...and the intervals are tight enough for that check to mean something.
    assert sorted(a - b for b, a in grants)[len(grants) // 2] < 0.05
    # Both processes got a share, and together they used the limit well (not a global mutex).
    assert min(per_process) >= rate * duration * 0.05
    assert len(grants) >= rate * duration * 0.85


def test_acquire_blocks_to_the_rate() -> None:
    limiter = RateLimiter(f"test:{uuid.uuid4()}", Rate(5, 1))
    started = time.monotonic()
    for _ in range(10):
        limiter.acquire(timeout=5)
    # 5 at once, the next 5 only when the first leave the one-second window (a lower bound: a loaded
    # machine can only make it later, so no upper wall-clock bound here).
    assert time.monotonic() - started >= 0.9


def test_acquire_times_out_when_no_slot_frees_in_time(monkeypatch) -> None:
    limiter = RateLimiter(f"test:{uuid.uuid4()}", Rate(2, 10))
    limiter.acquire()
    limiter.acquire()
    slept: list[float] = []
    monkeypatch.setattr("core.ratelimit.time.sleep", slept.append)
    with pytest.raises(RateLimitTimeout):
        limiter.acquire(timeout=0.3)
    assert sum(slept) <= 0.3  # it gave up instead of sleeping the ~10 s until a slot frees
    monkeypatch.undo()
    limiter.reset()
    assert limiter.try_acquire()


def test_keys_are_independent() -> None:
    a = RateLimiter(f"test:{uuid.uuid4()}:a", Rate(1, 10))
    b = RateLimiter(f"test:{uuid.uuid4()}:b", Rate(1, 10))
    assert a.try_acquire() and b.try_acquire()
    assert not a.try_acquire()
