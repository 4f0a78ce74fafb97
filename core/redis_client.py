"""One Redis client per process and URL for the apps' small uses: locks, pauses, counters, pacing.

A client owns a connection pool; making one per call (as some modules once did) opens a new
connection each time and leaves the old ones to the garbage collector. redis-py resets a pool
that crosses a fork, so a Celery child never shares its parent's sockets. Hot paths called from many
threads at once use ``core.ratelimit.thread_redis`` instead.
"""

from __future__ import annotations

from functools import lru_cache

import redis
from django.conf import settings


def shared_redis(url: str | None = None) -> redis.Redis:
    """The process's client for ``url`` (default: ``REDIS_URL`` as configured now)."""
    return _client(url or settings.REDIS_URL)


@lru_cache(maxsize=8)
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
