"""The proxy pool (SPEC REP-5): round-robin, optional binding to a store, counters, quarantine.

A store with proxies bound to it uses only those; the others share the unbound pool; with no proxy
at all the offers go out directly (the "direct" IP). A proxy that fails
``REPRICER_PROXY_FAILURES_TO_QUARANTINE`` times in a row is quarantined for a while and comes back
by itself when the time is up; counters are reset daily by a periodic job.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from marketplaces.kaspi.models import KaspiStore

from ..models import Proxy

DIRECT = "direct"


@dataclass(frozen=True)
class Route:
    """How one request goes out: through ``proxy`` (its id and URL) or directly."""

    key: str  # the rate-limit / pause key of the outgoing IP
    proxy_id: int | None = None
    url: str = ""


def _usable(now: object) -> Q:
    return Q(is_active=True) & (Q(quarantined_until__isnull=True) | Q(quarantined_until__lte=now))


_ROUTES_TTL = 5.0  # seconds a process reuses a store's routes (saves 2–3 queries per product)
_routes_cache: dict[int, tuple[float, list[Route], str]] = {}
_routes_lock = threading.Lock()


def proxy_routes(*, store: KaspiStore, fresh: bool = False) -> tuple[list[Route], str]:
    """The routes this store may use now, and the name of their round-robin pool (cached for a few
    seconds per process: a new, released or quarantined proxy is seen within ``_ROUTES_TTL``)."""
    now_mono = time.monotonic()
    with _routes_lock:
        cached = _routes_cache.get(store.pk)
    if cached is not None and not fresh and now_mono - cached[0] < _ROUTES_TTL:
        return cached[1], cached[2]
    routes, pool = _proxy_routes(store)
    with _routes_lock:
        _routes_cache[store.pk] = (now_mono, routes, pool)
    return routes, pool


def proxy_routes_forget() -> None:
    with _routes_lock:
        _routes_cache.clear()


def _proxy_routes(store: KaspiStore) -> tuple[list[Route], str]:
    now = timezone.now()
    rows, pool = list(Proxy.objects.filter(_usable(now), store=store)), f"store-{store.pk}"
    if not rows:
        rows, pool = list(Proxy.objects.filter(_usable(now), store__isnull=True)), "shared"
    if not rows:
        configured = Proxy.objects.filter(is_active=True).filter(Q(store=store) | Q(store__isnull=True)).exists()
        # Every configured proxy is quarantined: wait rather than expose the server's own IP.
        return ([] if configured else [Route(key=DIRECT)]), pool
    return [Route(key=f"proxy-{p.pk}", proxy_id=p.pk, url=str(p.url)) for p in rows], pool


_turns: dict[str, itertools.count[int]] = {}


def _next_turn(pool: str) -> int:
    """This process's round-robin position in a pool. Per process, not shared through Redis: every
    process rotating evenly spreads the whole load evenly, the per-IP pacer holds the limit across
    processes anyway, and the shared counter cost a Redis round trip per product (PERF-3)."""
    counter = _turns.get(pool)
    if counter is None:
        with _routes_lock:
            counter = _turns.setdefault(pool, itertools.count(random.randrange(1 << 16)))
    return next(counter)  # atomic: itertools.count is implemented in C


def proxy_routes_in_turn(*, store: KaspiStore) -> list[Route]:
    """The routes this store may use, starting at the next in round-robin order. Whether an IP rests
    after a 403 is checked by the pacer, in the same Redis round trip that takes its slot."""
    routes, pool = proxy_routes(store=store)
    if len(routes) < 2:
        return routes
    start = _next_turn(pool) % len(routes)
    return routes[start:] + routes[:start]


def proxy_record(*, route: Route, ok: bool, error: str = "") -> None:
    if route.proxy_id is None:
        return
    rows = Proxy.objects.filter(pk=route.proxy_id)
    if ok:
        rows.update(use_count=F("use_count") + 1, consecutive_failures=0)
        return
    rows.update(
        use_count=F("use_count") + 1,
        failure_count=F("failure_count") + 1,
        consecutive_failures=F("consecutive_failures") + 1,
        last_error=error[:500],
    )
    threshold = settings.REPRICER_PROXY_FAILURES_TO_QUARANTINE
    if rows.filter(consecutive_failures__gte=threshold).update(
        quarantined_until=timezone.now() + timedelta(seconds=settings.REPRICER_PROXY_QUARANTINE_SECONDS),
        consecutive_failures=0,
    ):
        proxy_routes_forget()  # this process stops using it at once; others within _ROUTES_TTL


def proxies_reset_counters() -> int:
    """Daily: usage and failure counters start again (quarantines end by their own time)."""
    return Proxy.objects.update(use_count=0, failure_count=0, counters_reset_at=timezone.now())
