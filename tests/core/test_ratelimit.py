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

# Runs in a separate process: acquire as fast as allowed for `duration` seconds, print grant times.
WORKER = """
import json, os, sys, time
import django
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
django.setup()
from core.ratelimit import Rate, RateLimiter
key, rate, duration, start_at = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
limiter = RateLimiter(key, Rate.per_second(rate))
while time.time() < start_at:
    time.sleep(0.001)
grants = []
while time.time() < start_at + duration:
    limiter.acquire(timeout=5)
    grants.append(time.time())
print(json.dumps(grants))
"""


def _max_in_window(times: list[float], window: float) -> int:
    times = sorted(times)
    best = start = 0
    for end in range(len(times)):
        while times[end] - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def test_rate_per_second_keeps_fractions_exact() -> None:
    assert Rate.per_second(12) == Rate(12, 1)
    assert Rate.per_second(1.5) == Rate(3, 2)
    assert Rate.per_second(0.5) == Rate(1, 2)
    with pytest.raises(ValueError):
        Rate.per_second(0)


def test_two_processes_share_one_limit() -> None:
    key, rate, duration = f"test:{uuid.uuid4()}", 12.0, 3.0
    start_at = time.time() + 3.0  # both processes start hammering at the same instant
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test", "REDIS_URL": settings.REDIS_URL}
    procs = [
        subprocess.Popen([sys.executable, "-c", WORKER, key, str(rate), str(duration), str(start_at)],
                         cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        for _ in range(2)
    ]
    grants: list[float] = []
    per_process = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
        times = json.loads(out)
        per_process.append(len(times))
        grants.extend(times)
    # Never more than N in any one-second window (2 ms allowance for the time between the
    # limiter's grant and the moment the process wrote it down).
    assert _max_in_window(grants, 0.998) <= rate
    # Both processes got a share, and together they used the limit well (not a global mutex).
    assert min(per_process) >= rate * duration * 0.05
    assert len(grants) >= rate * duration * 0.85


def test_acquire_times_out_when_no_slot_frees_in_time() -> None:
    limiter = RateLimiter(f"test:{uuid.uuid4()}", Rate(2, 10))
    limiter.acquire()
    limiter.acquire()
    started = time.monotonic()
    with pytest.raises(RateLimitTimeout):
        limiter.acquire(timeout=0.3)
    assert time.monotonic() - started < 1.0  # it gave up instead of sleeping 10 s
    limiter.reset()
    assert limiter.try_acquire()


def test_keys_are_independent() -> None:
    a = RateLimiter(f"test:{uuid.uuid4()}:a", Rate(1, 10))
    b = RateLimiter(f"test:{uuid.uuid4()}:b", Rate(1, 10))
    assert a.try_acquire() and b.try_acquire()
    assert not a.try_acquire()
