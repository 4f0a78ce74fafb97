"""Kaspi's limits, shared by every worker (SPEC REP-4).

Offers: ~8 requests/s per outgoing IP through ``core.ratelimit``; a 403 pauses that IP for ~15 s
(a Redis key with a TTL, so every worker on every machine skips it). Uploads: ≤ 1.5/s per
merchant, evenly spaced (``Pacer``); a 429 pauses the merchant for 30 minutes in the database
(``StoreRepricing.rate_limited_until``), where the scheduler and every worker read it — nothing is
retried into a 429.
"""

from __future__ import annotations

import time
from datetime import timedelta
from functools import lru_cache

import redis
from django.conf import settings
from django.utils import timezone

from core.exceptions import RateLimitTimeout
from core.ratelimit import Rate, RateLimiter
from marketplaces.kaspi.models import KaspiStore

from ..models import StoreRepricing


@lru_cache(maxsize=1)
def _redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=5)


def redis_client() -> redis.Redis:
    return _redis_for(settings.REDIS_URL)


def offers_limiter(ip_key: str) -> RateLimiter:
    return RateLimiter(f"kaspi:offers:ip:{ip_key}", Rate.per_second(settings.REPRICER_OFFERS_RATE_PER_IP))


_PACE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local ttl = math.ceil((slot - now + interval) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', ttl)
return string.format('%.6f', slot - now)
"""


class Pacer:
    """Evenly spaced grants, at most one per ``1/rate`` seconds, for every process (Redis clock).

    Kaspi counts price uploads per second and bans a merchant for 30 minutes over ~2/s. A moving
    window of 1.5/s (3 per 2 s) would allow 3 inside one second; spacing the uploads 0.67 s apart
    never puts more than 2 in any second, even with some network jitter.
    """

    def __init__(self, key: str, rate: float) -> None:
        self.key = f"repricer:pace:{key}"
        self.interval = 1.0 / rate

    def acquire(self, timeout: float = 60.0) -> float:
        wait = float(redis_client().eval(_PACE, 1, self.key, repr(self.interval)))
        if wait > timeout:
            raise RateLimitTimeout(f"pacer {self.key} slot is {wait:.1f}s away", service=self.key)
        if wait > 0:
            time.sleep(wait)
        return wait


def upload_limiter(store: KaspiStore) -> Pacer:
    key = store.merchant_uid or f"store-{store.pk}"
    return Pacer(f"kaspi:upload:{key}", settings.REPRICER_UPLOAD_RATE_PER_SECOND)


def ip_pause(ip_key: str, seconds: float | None = None) -> None:
    """Kaspi answered 403 to this IP: nobody uses it for a while."""
    ms = int(1000 * (settings.REPRICER_IP_PAUSE_SECONDS if seconds is None else seconds))
    redis_client().set(f"repricer:ip-paused:{ip_key}", "1", px=max(ms, 1))


def ip_paused_for(ip_key: str) -> float:
    """Seconds this IP is still paused (0 when usable)."""
    ms = redis_client().pttl(f"repricer:ip-paused:{ip_key}")
    return max(0.0, ms / 1000.0) if ms and ms > 0 else 0.0


def store_settings(store: KaspiStore) -> StoreRepricing:
    found, _ = StoreRepricing.objects.get_or_create(store=store)
    return found


def merchant_pause(*, store: KaspiStore, reason: str) -> StoreRepricing:
    """A price upload got 429: the whole merchant waits (proxies do not help; a retry extends the ban)."""
    until = timezone.now() + timedelta(seconds=settings.REPRICER_MERCHANT_PAUSE_SECONDS)
    settings_row = store_settings(store)
    StoreRepricing.objects.filter(pk=settings_row.pk).update(
        rate_limited_until=until, last_error=reason[:2000], updated_at=timezone.now()
    )
    settings_row.refresh_from_db()
    return settings_row
