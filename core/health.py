"""Liveness and readiness (SPEC PLAT-9): each dependency with its status and latency."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .redis_client import shared_redis

CHECK_TIMEOUT = 2.0
HEARTBEAT_KEY = "merchant-ops:worker-heartbeat"


def _check_database() -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_redis() -> None:
    shared_redis(timeout=CHECK_TIMEOUT).ping()


def _check_broker() -> None:
    from config.celery import app

    with app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
        conn.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT)


def _timed(check: Callable[[], None]) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        check()
    except Exception as exc:  # every failure is a "down", reported by type, never a 500
        return {
            "status": "down",
            "latency_ms": round((time.perf_counter() - started) * 1000, 2),
            "error": type(exc).__name__,
        }
    return {"status": "ok", "latency_ms": round((time.perf_counter() - started) * 1000, 2)}


def last_worker_heartbeat() -> str | None:
    try:
        value = shared_redis(timeout=CHECK_TIMEOUT).get(HEARTBEAT_KEY)
    except redis.RedisError:
        return None
    if not value:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)


@never_cache
@require_GET
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def ready(request: HttpRequest) -> JsonResponse:
    checks = {
        "database": _timed(_check_database),
        "redis": _timed(_check_redis),
        "broker": _timed(_check_broker),
    }
    healthy = all(c["status"] == "ok" for c in checks.values())
    body: dict[str, Any] = {"status": "ok" if healthy else "down", "checks": checks}
    if checks["redis"]["status"] == "ok":
        # Informational: when a worker last ran the beat-scheduled heartbeat task.
        body["worker_heartbeat"] = last_worker_heartbeat()
    return JsonResponse(body, status=200 if healthy else 503)
