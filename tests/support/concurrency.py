"""Callers racing for the same row, lock or budget: threads released together at a barrier.

``at_once(call, n)`` runs ``call(i)`` for i in 0..n-1 in n threads that all wait at one barrier, so
they really overlap (a thread started first would otherwise often be done before the last began).
Each thread closes its own database connection however it ends (Django opens one per thread; one
left open would block the test database's teardown). The results come back in index order; if a
caller raised, the first error is raised here; a thread still running after ``timeout`` fails the
test rather than hanging it or leaving a result silently missing.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

from django.db import connections

T = TypeVar("T")

_UNSET = object()


def at_once(call: Callable[[int], T], n: int, *, timeout: float = 120.0, barrier_timeout: float = 10.0) -> list[T]:
    barrier = threading.Barrier(n)
    results: list[object] = [_UNSET] * n
    errors: list[BaseException | None] = [None] * n

    def run(i: int) -> None:
        try:
            barrier.wait(barrier_timeout)
            results[i] = call(i)
        except BaseException as exc:  # handed to the test below
            errors[i] = exc
        finally:
            connections.close_all()  # this thread's own connections

    threads = [threading.Thread(target=run, args=(i,), daemon=True, name=f"at-once-{i}") for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    stuck = [thread.name for thread in threads if thread.is_alive()]
    if stuck:
        raise AssertionError(f"still running after {timeout} s: {', '.join(stuck)}")
    for error in errors:
        if error is not None:
            raise error
    return results  # type: ignore[return-value]  # every slot filled: no thread failed or stuck
