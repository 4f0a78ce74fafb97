"""Kaspi's limits, shared by every worker (SPEC REP-4).

Offers: 9.2 requests/s per outgoing IP (Kaspi reports ~10), evenly spaced through
``core.ratelimit.Pacer``; a 403 pauses that IP for ~15 s (a Redis key with a TTL, which the pacer
checks in the same round trip, so every worker on every machine skips it). Uploads: ≤ 1.5/s per
merchant, evenly spaced (``Pacer``); a 429 pauses the merchant for 30 minutes in the database
(``StoreRepricing.rate_limited_until``), where the scheduler and every worker read it — nothing is
retried into a 429.
"""

from __future__ import annotations

from datetime import timedelta

import redis
from django.conf import settings
from django.utils import timezone

from core.ratelimit import Pacer
from core.redis_client import thread_redis
from marketplaces.kaspi.clients import cabinet, offers
from marketplaces.kaspi.models import KaspiStore

from ..models import StoreRepricing


def thread_redis_client() -> redis.Redis:
    """This thread's own Redis connection: the repricer's threads call it for every product."""
    return thread_redis(settings.REDIS_URL)


def offers_limiter(ip_key: str) -> Pacer:
    """The outgoing IP's pacer, as the offers client declares it."""
    return offers.pacer(ip_key=ip_key)


def upload_limiter(store: KaspiStore) -> Pacer:
    """The merchant's upload pacer, as the cabinet client declares it."""
    return cabinet.upload_pacer(merchant_key=store.merchant_uid or f"store-{store.pk}")


def ip_pause(ip_key: str, seconds: float | None = None) -> None:
    """Kaspi answered 403 to this IP: nobody uses it for a while."""
    ms = int(1000 * (settings.REPRICER_IP_PAUSE_SECONDS if seconds is None else seconds))
    thread_redis_client().set(ip_pause_key(ip_key), "1", px=max(ms, 1))


def ip_pause_key(ip_key: str) -> str:
    """The Redis key whose TTL is how long this outgoing IP still rests after a 403."""
    return f"repricer:ip-paused:{ip_key}"


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
