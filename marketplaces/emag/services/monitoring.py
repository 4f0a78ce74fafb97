"""eMAG monitoring (SPEC MKT-5): request rate, errors, latency, limiter usage, sync success, alerts
and a health score 0–100.

Every process records its calls into per-minute Redis hashes per account, so the figures cover all
workers on all machines; they expire after two hours.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import redis
from django.conf import settings
from django.db.models import Count, F, Max, Q
from django.utils import timezone

from core.models import SyncRun
from core.redis_client import shared_redis
from core.selectors import sync_runs_of

from ..clients.emag import ORDERS, OTHER, limit_per_second, limiters
from ..models import EmagAccount, EmagOffer, EmagOrder

log = logging.getLogger(__name__)
KIND_ORDERS = "emag.orders"
KIND_OFFERS = "emag.offers"
_TTL = 2 * 3600


def _key(account_id: int, minute: int) -> str:
    return f"merchant-ops:emag:metrics:{account_id}:{minute}"


def recorder_for(*, account_id: int) -> Callable[[str, str, float], None]:
    def record(kind: str, outcome: str, elapsed_ms: float) -> None:
        key = _key(account_id, int(time.time() // 60))
        pipe = shared_redis().pipeline(transaction=False)
        if outcome == "attempt":
            pipe.hincrby(key, "attempts", 1)
            pipe.hincrby(key, f"attempts:{kind}", 1)
        else:
            pipe.hincrby(key, "calls", 1)
            pipe.hincrbyfloat(key, "latency_ms_sum", elapsed_ms)
            if outcome != "ok":
                pipe.hincrby(key, "errors", 1)
                pipe.hincrby(key, f"errors:{outcome}", 1)
        pipe.expire(key, _TTL)
        try:
            pipe.execute()
        except redis.RedisError:  # monitoring must never fail the eMAG call it measures
            log.warning("eMAG metrics not recorded: Redis unavailable")

    return record


def metrics_get(*, account: EmagAccount, minutes: int | None = None) -> dict[str, Any]:
    minutes = max(1, min(minutes or settings.EMAG_METRICS_WINDOW_MINUTES, 120))
    now_minute = int(time.time() // 60)
    client = shared_redis()
    pipe = client.pipeline(transaction=False)
    for minute in range(now_minute - minutes + 1, now_minute + 1):
        pipe.hgetall(_key(account.pk, minute))
    totals: dict[str, float] = {}
    for bucket in pipe.execute():
        for field, value in bucket.items():
            name = field.decode()
            totals[name] = totals.get(name, 0.0) + float(value)
    calls = int(totals.get("calls", 0))
    errors = int(totals.get("errors", 0))
    return {
        "window_minutes": minutes,
        "requests": int(totals.get("attempts", 0)),
        "requests_per_minute": round(totals.get("attempts", 0) / minutes, 2),
        "order_requests": int(totals.get(f"attempts:{ORDERS}", 0)),
        "other_requests": int(totals.get(f"attempts:{OTHER}", 0)),
        "calls": calls,
        "errors": errors,
        "error_rate": round(errors / calls, 4) if calls else 0.0,
        "errors_by_kind": {name.split(":", 1)[1]: int(v) for name, v in totals.items() if name.startswith("errors:")},
        "avg_latency_ms": round(totals.get("latency_ms_sum", 0.0) / calls, 1) if calls else 0.0,
    }


def limiter_stats(*, account: EmagAccount) -> dict[str, Any]:
    result = {}
    for kind, pacer in limiters(account.limiter_ref).items():
        limit = limit_per_second(kind)
        used = pacer.used_last_second()
        result[kind] = {
            "limit_per_second": limit,
            "paced_per_second": round(pacer.rate, 3),
            "window_seconds": 1,
            "used_in_window": used,  # grants in the last complete clock second
            "remaining_in_window": max(0, int(limit) - used),
            "usage": round(used / limit, 3),
            "queued_seconds": round(pacer.backlog(), 3),  # how far ahead the lane is booked
        }
    return result


def limiter_reset(*, account: EmagAccount) -> dict[str, Any]:
    for limiter in limiters(account.limiter_ref).values():
        limiter.reset()
    return limiter_stats(account=account)


def run_stats(*, account: EmagAccount, days: int = 1) -> dict[str, Any]:
    """The account's sync runs of the last ``days``: counts, success rate, the last one. Cheap (the
    runs of one account and day); the health score and the alerts' 20-second check read it."""
    since = timezone.now() - timedelta(days=days)
    runs = sync_runs_of(account).filter(
        merchant_id=account.merchant_id, kind__in=[KIND_ORDERS, KIND_OFFERS], created_at__gte=since
    )
    counts = runs.aggregate(
        total=Count("id"),
        succeeded=Count("id", filter=Q(status=SyncRun.Status.SUCCEEDED)),
        failed=Count("id", filter=Q(status=SyncRun.Status.FAILED)),
        retrying=Count("id", filter=Q(status=SyncRun.Status.RETRYING)),
    )
    finished = counts["succeeded"] + counts["failed"]
    last = runs.first()
    last_ok = runs.filter(status=SyncRun.Status.SUCCEEDED).first()
    return {
        "window_days": days,
        "runs": counts["total"],
        "succeeded": counts["succeeded"],
        "failed": counts["failed"],
        "retrying": counts["retrying"],  # a transient error, a retry queued: not (yet) a failure
        "success_rate": round(counts["succeeded"] / finished, 4) if finished else None,
        "last_run": None
        if last is None
        else {
            "id": last.pk,
            "kind": last.kind,
            "status": last.status,
            "error": last.error[:300],
            "created_at": last.created_at,
        },
        "last_success_at": last_ok.finished_at if last_ok else None,
    }


def sync_stats(*, account: EmagAccount, days: int = 1) -> dict[str, Any]:
    """``run_stats`` and the account's orders by status (counts over every order it has)."""
    return {
        **run_stats(account=account, days=days),
        "orders": EmagOrder.objects.filter(account=account).count(),
        "orders_by_status": {
            str(row["status"]): row["n"]
            for row in EmagOrder.objects.filter(account=account).values("status").annotate(n=Count("id"))
        },
        "orders_not_acknowledged": EmagOrder.objects.filter(account=account, status=EmagOrder.Status.NEW).count(),
        "last_sync_at": account.last_sync_at,
    }


def product_stats(*, account: EmagAccount) -> dict[str, Any]:
    offers = EmagOffer.objects.filter(account=account)
    total = offers.count()
    ranked = offers.exclude(buy_button_rank=None)
    return {
        "offers": total,
        "active": offers.filter(status=1).count(),
        "out_of_stock": offers.filter(stock=0).count(),
        "winning_buy_button": offers.filter(buy_button_rank=1).count(),
        "losing_buy_button": ranked.exclude(buy_button_rank=1).count(),
        "above_best_offer": offers.filter(sale_price__gt=F("best_offer_sale_price")).count(),
        "competing_offers_max": offers.aggregate(n=Max("number_of_offers"))["n"] or 0,
    }


def health_get(*, account: EmagAccount) -> dict[str, Any]:
    """Score 100 minus penalties for each threshold crossed; alerts say which and why."""
    metrics = metrics_get(account=account)
    sync = run_stats(account=account)  # not sync_stats: no count over every order for a score
    limits = limiter_stats(account=account)
    alerts: list[dict[str, Any]] = []
    score = 100.0
    if metrics["calls"]:
        rate = metrics["error_rate"]
        if rate > settings.EMAG_ALERT_ERROR_RATE:
            alerts.append({"metric": "error_rate", "value": rate, "threshold": settings.EMAG_ALERT_ERROR_RATE})
        score -= min(40.0, 40.0 * rate / max(settings.EMAG_ALERT_ERROR_RATE * 4, 1e-9))
        latency = metrics["avg_latency_ms"]
        if latency > settings.EMAG_ALERT_LATENCY_MS:
            alerts.append({"metric": "avg_latency_ms", "value": latency, "threshold": settings.EMAG_ALERT_LATENCY_MS})
            score -= min(20.0, 20.0 * (latency / settings.EMAG_ALERT_LATENCY_MS - 1))
        if metrics["errors_by_kind"].get("auth"):
            alerts.append({"metric": "auth_errors", "value": metrics["errors_by_kind"]["auth"], "threshold": 0})
            score -= 20.0
    success = sync["success_rate"]
    if success is not None:
        if success < settings.EMAG_ALERT_SYNC_SUCCESS:
            alerts.append(
                {"metric": "sync_success_rate", "value": success, "threshold": settings.EMAG_ALERT_SYNC_SUCCESS}
            )
        score -= 30.0 * (1.0 - success)
    usage = max(item["usage"] for item in limits.values())
    if usage > settings.EMAG_ALERT_LIMITER_USAGE:
        alerts.append({"metric": "limiter_usage", "value": usage, "threshold": settings.EMAG_ALERT_LIMITER_USAGE})
        score -= 10.0
    score = max(0, min(100, round(score)))
    status = "healthy" if score >= 80 else "degraded" if score >= 50 else "unhealthy"
    return {
        "account": account.pk,
        "score": score,
        "status": status,
        "alerts": alerts,
        "metrics": metrics,
        "sync": {k: sync[k] for k in ("runs", "succeeded", "failed", "retrying", "success_rate", "last_success_at")},
        "rate_limiter": limits,
    }
