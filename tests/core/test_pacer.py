"""core.ratelimit.Pacer: evenly spaced grants shared by every thread and process (through Redis)."""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections import Counter

import pytest
import redis

from core.exceptions import LanePaused, RateLimitTimeout
from core.ratelimit import Pacer
from tests.support.pacing import assert_paced, grants_across_processes


def test_grants_are_spaced_evenly_across_threads() -> None:
    pacer = Pacer(f"test-{uuid.uuid4().hex}", 20.0)  # one every 50 ms
    slots: list[float] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(3):
            pacer.acquire(timeout=5)
            with lock:
                slots.append(pacer.last_grant()[0])

    started = time.monotonic()
    threads = [threading.Thread(target=take) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    took = time.monotonic() - started
    # The slots Redis granted (its clock): a stall of a thread after its grant cannot move them, as it
    # would move a time the thread took itself.
    slots.sort()
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert len(slots) == 12
    assert min(gaps) >= 0.05 - 1e-6  # never a burst: one grant per interval
    # Every caller waited for its slot: twelve slots a spacing apart take at least eleven spacings
    # (a lower bound: a busy machine can only make it later).
    assert took >= 11 * 0.05 - 0.01
    # In no one-second window more than the rate.
    assert max(sum(1 for t in slots if s <= t < s + 1.0) for s in slots) <= 20


def test_grants_are_spaced_evenly_across_processes() -> None:
    """Two interpreters (as two Celery workers) share the lane through Redis: one grant per interval."""
    slots, rate = grants_across_processes("core.ratelimit:Pacer", key=f"test-{uuid.uuid4().hex}", rate=10.0, grants=4)
    assert rate == 10.0 and len(slots) == 8
    assert_paced(slots, rate)


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
        assert not client.exists(pacer.key)  # no slot was taken while paused: the lane is still idle
        client.delete(pause_key)
        pacer.acquire(timeout=5, paused_by=pause_key)
        first_slot = pacer.last_grant()[0]
        pacer.acquire(timeout=5, paused_by=pause_key)  # the next one a spacing later, as usual
        assert pacer.last_grant()[0] >= first_slot + 0.5 - 1e-5
    finally:
        client.delete(pause_key)


def test_a_counted_pacer_reports_the_last_second_its_backlog_and_resets(settings: object) -> None:
    pacer = Pacer(f"test-{uuid.uuid4().hex}", 20.0, counted=True)  # one every 50 ms
    client = redis.Redis.from_url(settings.REDIS_URL)  # type: ignore[attr-defined]
    slots = []
    for _ in range(30):  # a second and a half of grants
        pacer.acquire(timeout=5)
        slots.append(pacer.last_grant()[0])
    per_second = Counter(int(slot) for slot in slots)
    # Each grant is counted in the clock second of its slot (Redis's clock), whenever its caller woke;
    # a slot given up by a caller that woke late stays counted (it stays used), so a busy machine can
    # only add to a second's count — never past the rate, since slots are a spacing apart.
    for second, count in per_second.items():
        assert count <= int(client.get(f"{pacer.key}:n:{second}") or 0) <= 20, (second, per_second)
    # used_last_second() reads the last complete second at the moment it is asked.
    while True:
        before = client.time()[0]
        seen = pacer.used_last_second()
        if client.time()[0] == before:
            break
    assert per_second.get(before - 1, 0) <= seen <= 20
    time.sleep(0.1)
    assert pacer.backlog() == 0.0  # nobody queued

    def slots_taken() -> int:  # every slot booked, including ones given up by a caller that woke late
        return sum(int(client.get(key) or 0) for key in client.scan_iter(match=f"{pacer.key}:n:*"))

    taken_before = slots_taken()
    threads = [threading.Thread(target=pacer.acquire, kwargs={"timeout": 5}) for _ in range(10)]
    for thread in threads:
        thread.start()
    # Ten slots booked at once: the lane runs up to half a second ahead, then drains. The most seen
    # while they wait (a single look after a fixed sleep would depend on how fast this thread wakes).
    booked = 0.0
    while any(thread.is_alive() for thread in threads):
        booked = max(booked, pacer.backlog())
        time.sleep(0.01)
    for thread in threads:
        thread.join()
    # Never further ahead than the slots booked (ten, more only where a late caller queued again).
    assert 0.25 < booked <= (slots_taken() - taken_before) * 0.05 + 1e-3, booked
    pacer.reset()
    assert pacer.used_last_second() == 0 and pacer.backlog() == 0.0
    assert not client.exists(pacer.key)  # a reset lane is idle: its next grant is at once


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
    real_sleep, sleeps, armed = time.sleep, [], [False]

    def oversleep_once(seconds: float) -> None:  # a busy process: the armed wake-up comes 60 ms late
        sleeps.append(seconds)
        late = 0.06 if armed[0] else 0.0
        armed[0] = False
        real_sleep(seconds + late)

    monkeypatch.setattr(ratelimit.time, "sleep", oversleep_once)
    pacer.acquire(timeout=5)
    first_slot = pacer.last_grant()[0]
    armed[0], sleeps[:] = True, []
    pacer.acquire(timeout=5)  # slot at +100 ms, woke at +160: gives it up, takes +200 ms
    # It slept for its slot, woke late, and queued again (a busy machine may make it queue more often).
    assert len(sleeps) >= 2, sleeps
    # The slot it kept is not the one it overslept but a later one (Redis's clock); the given-up slot
    # stays used, so nobody else crowds it either.
    assert pacer.last_grant()[0] >= first_slot + 0.2 - 1e-5


def test_a_lane_too_fast_to_pace_never_counts_a_caller_late() -> None:
    assert Pacer("x", 100_000.0).late_after is None
    # 1,000/s too: a deadline a quarter of a millisecond after the slot refuses every request that
    # opens a connection ("could not send on pace"), though the spacing means nothing at that rate.
    assert Pacer("x", 1000.0).late_after is None
    assert Pacer("x", 500.0).late_after == pytest.approx(0.0005)
