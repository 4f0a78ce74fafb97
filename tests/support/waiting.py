"""The one way a test waits for something another process or thread does (issue 22)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float, what: str = "condition", interval: float = 0.1) -> T:
    """Poll ``predicate`` until it returns something truthy and return that; after ``timeout`` seconds
    (with one last look) fail the test saying what it waited for."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
