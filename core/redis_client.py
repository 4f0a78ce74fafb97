"""Where every Redis client of the project comes from (nothing else calls ``Redis.from_url``):

- ``shared_redis()``: one pooled client per process and URL for the apps' small uses: locks, pauses,
  counters, health checks. A client owns a connection pool; making one per call (as some modules
  once did) opens a new connection each time and leaves the old ones to the garbage collector.
  redis-py resets a pool that crosses a fork, so a Celery child never shares its parent's sockets.
- ``thread_redis()``: one unpooled connection per thread, for hot paths called from many threads at
  once (pacing).
"""

from __future__ import annotations

import os
import threading
from functools import lru_cache

import redis
from django.conf import settings


def shared_redis(url: str | None = None, *, timeout: float = 5.0) -> redis.Redis:
    """The process's client for ``url`` (default: ``REDIS_URL`` as configured now); ``timeout``
    bounds each command (a health check waits less than a worker)."""
    return _client(url or settings.REDIS_URL, timeout)


@lru_cache(maxsize=8)
def _client(url: str, timeout: float) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=min(timeout, 2.0))


_thread_clients = threading.local()


def thread_redis(redis_url: str) -> redis.Redis:
    """A Redis client with its own connection for the calling thread (and process).

    For hot paths called from many threads at once (the repricer's pacing, hundreds of calls per
    second): a shared pooled client takes the pool's lock, checks the connection with a poll and
    records pool metrics on every command, and under the GIL that costs more than the command.
    Keyed by process id too, so a forked worker never reuses its parent's socket.
    """
    key = (os.getpid(), redis_url)
    clients: dict[tuple[int, str], redis.Redis] | None = getattr(_thread_clients, "clients", None)
    if clients is None:
        clients = _thread_clients.clients = {}
    client = clients.get(key)
    if client is None:
        client = clients[key] = redis.Redis.from_url(
            redis_url, socket_timeout=5, socket_connect_timeout=2, single_connection_client=True
        )
    return client
