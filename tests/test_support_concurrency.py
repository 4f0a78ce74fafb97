"""tests.support.concurrency.at_once: the callers overlap, results keep their order, and a caller's
error or a stuck caller fails the test instead of leaving a result silently missing."""

from __future__ import annotations

import threading

import pytest

from tests.support.concurrency import at_once
from tests.support.waiting import wait_for


def test_every_caller_is_inside_at_the_same_time_and_results_keep_their_order() -> None:
    inside = threading.Barrier(4)  # passes only if all four are in their call at once

    def call(i: int) -> int:
        inside.wait(10)
        return i * i

    assert at_once(call, 4) == [0, 1, 4, 9]


def test_a_callers_error_is_raised_after_every_thread_ended() -> None:
    ended: list[int] = []

    def call(i: int) -> int:
        ended.append(i)
        if i == 1:
            raise ValueError("caller 1 failed")
        return i

    with pytest.raises(ValueError, match="caller 1 failed"):
        at_once(call, 3)
    assert sorted(ended) == [0, 1, 2]


def test_a_caller_still_running_after_the_timeout_fails_the_test() -> None:
    release = threading.Event()
    try:
        with pytest.raises(AssertionError, match=r"still running after 0\.2 s: at-once-1"):
            at_once(lambda i: release.wait(30) if i == 1 else i, 2, timeout=0.2)
    finally:
        release.set()


@pytest.mark.django_db(transaction=True)
def test_each_thread_closes_its_own_database_connection() -> None:
    from django.db import connection

    def backend(_: int) -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            return int(cursor.fetchone()[0])

    used = at_once(backend, 2)
    assert len(set(used)) == 2  # one connection per thread

    def still_open() -> list[int]:
        with connection.cursor() as cursor:  # the test's own connection: untouched by the threads
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE pid = ANY(%s)", [used])
            return [row[0] for row in cursor.fetchall()]

    # A closed connection's server process ends a moment later: gone soon, not at once.
    wait_for(lambda: not still_open(), timeout=10, what="the threads' connections closed")
