"""Rate limits shared by every worker process on every machine, through Redis (SPEC PLAT-7).

Two tools, for two jobs:

- ``Pacer``: evenly spaced grants (one per ``1/rate`` s). The way every call to a provider is paced,
  declared once next to its client (``vending.clients.vendista.pacer``, ``poster_sync.clients.poster.pacer``,
  ``marketplaces.emag.clients.emag.limiters``, ``marketplaces.kaspi.clients.cabinet.pacer`` and
  ``.upload_pacer``, ``.shop.pacer``, ``.offers.pacer``): latency stays at most one spacing, and
  jitter on the way cannot crowd a provider's second.
- ``RateLimiter``: the ``limits`` library's moving window ("never more than N in any window",
  exact across processes, bursts allowed). For budgets, not provider calls: one manual sync per
  minute, a buyer's orders per window.
"""

from __future__ import annotations

import contextvars
import logging
import random
import threading
import time
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

from django.conf import settings
from limits import RateLimitItemPerSecond
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter
from redis.commands.core import Script

from .exceptions import LanePaused, RateLimitTimeout
from .redis_client import shared_redis, thread_redis

NAMESPACE = "merchant-ops"
# The moment (monotonic) by which the caller of the slot this context was last granted must have put
# its request on the wire, or None. core.http's connections refuse to send after it (``SentTooLate``,
# nothing sent; the client queues again): a process stalled between the grant and the socket would
# otherwise send into the next slot's time, and at the provider's edge two such requests crowd a second.
send_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("pacer_send_deadline", default=None)
# A Pacer's caller that wakes this fraction of the spacing after its slot takes another slot.
LATE_FRACTION = 0.25

log = logging.getLogger(__name__)


@lru_cache(maxsize=4)
def _limiter(redis_url: str) -> MovingWindowRateLimiter:
    storage = storage_from_string(redis_url, socket_timeout=5, socket_connect_timeout=2)
    return MovingWindowRateLimiter(storage)


@dataclass(frozen=True)
class Rate:
    """``amount`` grants per ``seconds``. 1.5/s is kept as 3 per 2 s, never rounded to 1 or 2."""

    amount: int
    seconds: int = 1

    @classmethod
    def per_second(cls, rate: float) -> Rate:
        fraction = Fraction(rate).limit_denominator(10)
        if fraction <= 0:
            raise ValueError("rate must be positive")
        return cls(amount=fraction.numerator, seconds=fraction.denominator)


class RateLimiter:
    """``RateLimiter("emag:orders", Rate(12))``; call ``acquire()`` before each request."""

    def __init__(self, key: str, rate: Rate, *, redis_url: str | None = None, jitter: float = 0.005) -> None:
        self.key = key
        self.rate = rate
        self.item = RateLimitItemPerSecond(rate.amount, rate.seconds, namespace=NAMESPACE)
        self._redis_url = redis_url
        self.jitter = jitter

    @property
    def limiter(self) -> MovingWindowRateLimiter:
        return _limiter(self._redis_url or settings.REDIS_URL)

    def try_acquire(self) -> bool:
        return self.limiter.hit(self.item, self.key)

    def acquire(self, timeout: float | None = 30.0) -> float:
        """Block until a slot is granted; return the seconds waited. Raises RateLimitTimeout."""
        started = time.monotonic()
        deadline = None if timeout is None else started + timeout
        while True:
            if self.limiter.hit(self.item, self.key):
                return time.monotonic() - started
            stats = self.limiter.get_window_stats(self.item, self.key)
            wait = max(0.001, stats.reset_time - time.time())
            # A little jitter so that waiting processes do not all retry on the same instant.
            wait += random.uniform(0, self.jitter)
            if deadline is not None and time.monotonic() + wait > deadline:
                raise RateLimitTimeout(
                    f"rate limit {self.key} ({self.rate.amount}/{self.rate.seconds}s) not granted within {timeout}s",
                    service=self.key,
                )
            time.sleep(wait)

    def retry_after(self) -> float:
        """Seconds until the next slot frees up (0 when one is free now)."""
        stats = self.limiter.get_window_stats(self.item, self.key)
        return 0.0 if stats.remaining > 0 else max(0.0, stats.reset_time - time.time())

    def reset(self) -> None:
        self.limiter.clear(self.item, self.key)


@lru_cache(maxsize=4)
def _pace_script(redis_url: str) -> Script:
    """The pacing script, sent once and then called by its SHA (EVALSHA; reloaded if Redis lost it)."""
    return shared_redis(redis_url).register_script(_PACE)


_PACE = """
if #KEYS > 1 then
  local paused_ms = redis.call('PTTL', KEYS[2])
  if paused_ms > 0 then return string.format('-%.3f', paused_ms / 1000) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local interval = tonumber(ARGV[1])
local slot = math.max(now, tonumber(redis.call('GET', KEYS[1]) or '0'))
local ttl = math.ceil((slot - now + interval) * 1000) + 1000
redis.call('SET', KEYS[1], string.format('%.6f', slot + interval), 'PX', ttl)
if ARGV[2] == '1' then
  local counter = KEYS[1] .. ':n:' .. string.format('%d', math.floor(slot))
  redis.call('INCR', counter)
  redis.call('PEXPIRE', counter, ttl + 5000)
end
return string.format('%.6f %.6f', slot - now, slot)
"""


class Pacer:
    """Evenly spaced grants, one per ``1/rate`` seconds across every process (on Redis's clock).

    For providers that punish bursts or count per clock second (Kaspi: a 403 per IP, a 429 that
    bans a merchant for 30 minutes; eMAG: requests per clock second): a moving window grants its
    whole allowance at once, and a little network jitter then puts two windows' worth into one
    second at the provider. Spaced grants need a delay of a large part of the spacing to do that,
    and a caller waits at most one spacing behind an idle lane instead of a whole window behind a
    burst. A slot taken is used even if its caller gives up.

    ``counted=True`` also counts grants per clock second (one more Redis command per grant) for
    monitoring: ``used_last_second()``.
    """

    def __init__(
        self,
        key: str,
        rate: float,
        *,
        redis_url: str | None = None,
        counted: bool = False,
        late_after: float | None = None,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self._redis_url = redis_url
        self.key = f"{NAMESPACE}:pace:{key}"
        self.rate = rate
        self.interval = 1.0 / rate
        self.counted = counted
        # A quarter of the spacing, or less where the provider's counting leaves less room (``late_after``);
        # none for lanes so fast that spacing means nothing (≥ 1000/s).
        quarter = LATE_FRACTION * self.interval
        self.late_after: float | None = (
            (min(quarter, late_after) if late_after is not None else quarter) if self.interval > 0.001 else None
        )
        self._granted = threading.local()

    @property
    def _url(self) -> str:
        return self._redis_url or settings.REDIS_URL

    def acquire(self, timeout: float = 60.0, *, paused_by: str | None = None) -> float:
        """Take the next slot and sleep until it; return the seconds waited. ``paused_by``: a Redis key
        whose TTL pauses this lane; while it lives no slot is taken and ``LanePaused`` says for how long
        (checked in the same round trip).

        A caller that wakes up more than ``late_after`` past its slot (a busy process, a long GC)
        gives the slot up and takes the next free one: sent late, its request would reach the
        provider right before the next slot's, and a few such pairs put more than the rate into one
        of the provider's seconds. The lateness is measured from before the Redis round trip, so a
        slow reply counts as late too."""
        url = self._url
        keys = [self.key] if paused_by is None else [self.key, paused_by]
        args = [repr(self.interval), "1" if self.counted else "0"]
        script, client = _pace_script(url), thread_redis(url)
        deadline = time.monotonic() + timeout
        waited = 0.0
        while True:
            asked = time.monotonic()
            answer = script(keys=keys, args=args, client=client)
            wait_text, _, slot_text = (answer.decode() if isinstance(answer, bytes) else str(answer)).partition(" ")
            wait = float(wait_text)
            if wait < 0:
                raise LanePaused(f"pacer {self.key} is paused for {-wait:.1f}s", seconds=-wait, service=self.key)
            if asked + wait > deadline:
                raise RateLimitTimeout(f"pacer {self.key} slot is {wait:.1f}s away", service=self.key)
            if wait > 0:
                time.sleep(wait)
            now = time.monotonic()
            waited += now - asked
            if self.late_after is None or now - (asked + wait) <= self.late_after:
                self._granted.slot, self._granted.wait = float(slot_text), wait
                send_deadline.set(None if self.late_after is None else asked + wait + self.late_after)
                return waited
            log.debug(
                "pacer %s: woke %.0f ms after its slot; taking the next one", self.key, (now - asked - wait) * 1000
            )

    def last_grant(self) -> tuple[float, float]:
        """This thread's last grant: its slot on Redis's clock and how long Redis told it to wait for
        it. Decided inside Redis, so unlike the caller's own clock no stall of the caller moves them."""
        return self._granted.slot, self._granted.wait

    def backlog(self) -> float:
        """Seconds until the next free slot (0 when the lane is idle): how far callers are queued."""
        client = shared_redis(self._url)
        seconds, micros = client.time()
        raw = client.get(self.key)
        return max(0.0, float(raw) - (seconds + micros / 1_000_000)) if raw else 0.0

    def used_last_second(self) -> int:
        """Grants whose slot fell in the last complete clock second (Redis's clock); ``counted`` only."""
        client = shared_redis(self._url)
        seconds, _ = client.time()
        return int(client.get(f"{self.key}:n:{int(seconds) - 1}") or 0)

    def reset(self) -> None:
        """Forget the lane: the next grant is immediate and the counters start from zero."""
        client = shared_redis(self._url)
        client.delete(self.key, *client.scan_iter(match=f"{self.key}:n:*", count=100))
