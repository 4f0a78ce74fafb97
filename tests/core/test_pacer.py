"""core.ratelimit.Pacer: evenly spaced grants shared by every thread and process (through Redis)."""

from __future__ import annotations

import itertools
import threading
import time
import uuid

import pytest
import redis

from core.exceptions import LanePaused, RateLimitTimeout
from core.ratelimit import Pacer


def test_grants_are_spaced_evenly_across_threads() -> None:
    pacer = Pacer(f"test-{uuid.uuid4().hex}", 20.0)  # one every 50 ms
    granted: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(3):
            pacer.acquire(timeout=5)
            with lock:
                granted.append(time.monotonic())

    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    granted.sort()
    gaps = [b - a for a, b in itertools.pairwise(granted)]
    assert len(granted) == 12
    assert min(gaps) > 0.035  # never a burst: at most one grant per interval (thread wake-up jitter aside)
    assert granted[-1] - granted[0] >= 11 * 0.05 - 0.03
    # In no one-second window more than the rate.
    assert max(sum(1 for t in granted if s <= t < s + 1.0) for s in granted) <= 20


def test_a_slot_too_far_away_raises_instead_of_waiting() -> None:
    pacer = Pacer(f"test-{uuid.uuid4().hex}", 1.0)
    pacer.acquire(timeout=1)
    pacer.acquire(timeout=2)  # the next slot is ~1 s away: waited
    with pytest.raises(RateLimitTimeout):
        pacer.acquire(timeout=0.5)  # ~1 s away again


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Pacer("x", 0)


def test_a_paused_lane_takes_no_slot_and_says_how_long(settings: object) -> None:
    pacer = Pacer(f"test-{uuid.uuid4().hex}", 2.0)  # one every 500 ms
    pause_key = f"test-pause-{uuid.uuid4().hex}"
    client = redis.Redis.from_url(settings.REDIS_URL)  # type: ignore[attr-defined]
    client.set(pause_key, "1", px=3000)
    try:
        with pytest.raises(LanePaused) as paused:
            pacer.acquire(timeout=5, paused_by=pause_key)
        assert 2.0 < paused.value.seconds <= 3.0
        client.delete(pause_key)
        # No slot was taken while paused: the first grant after the pause is immediate.
        assert pacer.acquire(timeout=5, paused_by=pause_key) < 0.02
        assert pacer.acquire(timeout=5, paused_by=pause_key) > 0.3  # the next one is spaced as usual
    finally:
        client.delete(pause_key)


def test_a_counted_pacer_reports_the_last_second_its_backlog_and_resets(settings: object) -> None:
    pacer = Pacer(f"test-{uuid.uuid4().hex}", 20.0, counted=True)  # one every 50 ms
    client = redis.Redis.from_url(settings.REDIS_URL)  # type: ignore[attr-defined]
    seconds, _ = client.time()
    while client.time()[0] == seconds:  # start on a fresh clock second
        time.sleep(0.01)
    granted = 0
    started = client.time()[0]
    while client.time()[0] == started:
        pacer.acquire(timeout=5)
        granted += 1
    assert 15 <= granted <= 21
    counted = pacer.used_last_second()
    # The grant whose slot crossed into the next second is counted there, not in the last one.
    assert granted - 1 <= counted <= granted, (granted, counted)
    time.sleep(0.1)
    assert pacer.backlog() == 0.0  # nobody queued
    threads = [threading.Thread(target=pacer.acquire, kwargs={"timeout": 5}) for _ in range(10)]
    for thread in threads:
        thread.start()
    time.sleep(0.1)  # ten slots booked at once: the lane is about half a second ahead
    booked = pacer.backlog()
    for thread in threads:
        thread.join()
    assert 0.25 < booked <= 0.5, booked
    pacer.reset()
    assert pacer.used_last_second() == 0 and pacer.backlog() == 0.0
    assert pacer.acquire(timeout=5) < 0.02  # a reset lane grants at once


def test_an_uncounted_pacer_counts_nothing() -> None:
    pacer = Pacer(f"test-{uuid.uuid4().hex}", 50.0)
    for _ in range(5):
        pacer.acquire(timeout=5)
    time.sleep(1.0)
    assert pacer.used_last_second() == 0


def test_a_caller_that_wakes_late_takes_the_next_slot_instead_of_crowding_it(monkeypatch: pytest.MonkeyPatch) -> None:
    import core.ratelimit as ratelimit

    pacer = Pacer(f"test-{uuid.uuid4().hex}", 10.0)  # one every 100 ms; late after 25 ms
    assert pacer.late_after == pytest.approx(0.025)
    real_sleep, sleeps = time.sleep, []

    def oversleep_once(seconds: float) -> None:  # a busy process: the first wake-up comes 60 ms late
        sleeps.append(seconds)
        real_sleep(seconds + (0.06 if len(sleeps) == 1 else 0.0))

    monkeypatch.setattr(ratelimit.time, "sleep", oversleep_once)
    started = time.monotonic()
    assert pacer.acquire(timeout=5) == pytest.approx(0.0, abs=0.02)  # idle lane: at once
    waited = pacer.acquire(timeout=5)  # slot at +100 ms, woke at +160: gives it up, takes +200 ms
    granted = time.monotonic() - started
    assert len(sleeps) == 2, sleeps
    assert 0.19 <= granted < 0.3 and waited == pytest.approx(granted, abs=0.02), (granted, waited)
    # The given-up slot stays used: the next free one is a spacing after the slot taken.
    assert 0.05 < pacer.backlog() <= 0.1


def test_a_lane_too_fast_to_pace_never_counts_a_caller_late() -> None:
    assert Pacer("x", 100_000.0).late_after is None
