"""Settings of the repricer (SPEC REP-1 … REP-6; read from the environment, names documented in README)."""

from __future__ import annotations

from .env import env

# Public offers requests per second per outgoing IP (Kaspi's reported limit is ~10, it answers 403
# above ~15). Evenly spaced, so 9.2/s never puts more than 10 into any second unless a request is
# held up by more than ~85 ms on its way out.
REPRICER_OFFERS_RATE_PER_IP = env.float("REPRICER_OFFERS_RATE_PER_IP", default=9.2)
# Seconds an IP is left alone after Kaspi answered 403 to it.
REPRICER_IP_PAUSE_SECONDS = env.float("REPRICER_IP_PAUSE_SECONDS", default=15.0)
# Price uploads per second per merchant (Kaspi reports ~2; a 429 bans the merchant ~30 minutes).
REPRICER_UPLOAD_RATE_PER_SECOND = env.float("REPRICER_UPLOAD_RATE_PER_SECOND", default=1.5)
# After a 429 on an upload nothing of that store is checked or uploaded for this long.
REPRICER_MERCHANT_PAUSE_SECONDS = env.int("REPRICER_MERCHANT_PAUSE_SECONDS", default=30 * 60)
# The loop: the scheduler claims at most this many due products per wake-up, in batches of this size.
REPRICER_CLAIM_LIMIT = env.int("REPRICER_CLAIM_LIMIT", default=2000)
REPRICER_BATCH_SIZE = env.int("REPRICER_BATCH_SIZE", default=50)
# A claimed product is not claimed again for this long (its worker normally finishes well before).
REPRICER_LEASE_SECONDS = env.int("REPRICER_LEASE_SECONDS", default=300)
# Requests in flight per worker process (threads).
REPRICER_WORKER_CONCURRENCY = env.int("REPRICER_WORKER_CONCURRENCY", default=16)
# Priority products are checked at least this often.
REPRICER_PRIORITY_INTERVAL_SECONDS = env.int("REPRICER_PRIORITY_INTERVAL_SECONDS", default=60)
# A failing product waits min(interval × 2^failures, this) before its next check.
REPRICER_MAX_BACKOFF_SECONDS = env.int("REPRICER_MAX_BACKOFF_SECONDS", default=3600)
# Consecutive failures after which a proxy is quarantined, and for how long.
REPRICER_PROXY_FAILURES_TO_QUARANTINE = env.int("REPRICER_PROXY_FAILURES_TO_QUARANTINE", default=5)
REPRICER_PROXY_QUARANTINE_SECONDS = env.int("REPRICER_PROXY_QUARANTINE_SECONDS", default=600)
# Active rules per merchant (the old system's plan limit); 0 = no limit (the default).
REPRICER_PLAN_PRODUCT_LIMIT = env.int("REPRICER_PLAN_PRODUCT_LIMIT", default=0)
# Seconds between scheduler wake-ups (beat).
REPRICER_SCHEDULE_SECONDS = env.float("REPRICER_SCHEDULE_SECONDS", default=5.0)
