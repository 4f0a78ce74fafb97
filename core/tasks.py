from __future__ import annotations

import logging
import time

from celery import shared_task
from django.utils import timezone

from .health import HEARTBEAT_KEY
from .redis_client import shared_redis

log = logging.getLogger(__name__)


@shared_task(name="core.tasks.heartbeat", queue="default", ignore_result=True, acks_late=False)
def heartbeat() -> str:
    """Proves beat → broker → worker end to end; /health/ready/ shows the last time it ran."""
    now = timezone.now().isoformat()
    shared_redis(timeout=2).set(HEARTBEAT_KEY, now, ex=3600)
    log.info("heartbeat executed by worker at %s", now)
    return now


@shared_task(name="core.tasks.ping", queue="default")
def ping(value: int) -> int:
    """A tiny round trip used by tests and `make run` checks."""
    return value + 1


@shared_task(name="core.tasks.hop_mark", queue="default", ignore_result=True)
def hop_mark(key: str) -> None:
    """A bare queue hop, for PERF-4's baseline: records (in a Redis list) when a worker started it.
    Like the webhook's brew task it stores no result, so nobody's round trip goes through the result
    backend; the bench reads the start time and subtracts the time it published."""
    started = time.time()
    client = shared_redis()
    client.rpush(key, repr(started))
    client.expire(key, 300)
