"""Settings of the eMAG app (SPEC MKT-2 … MKT-6; names documented in README "eMAG")."""

from __future__ import annotations

from .env import BASE_DIR, env

# Base URL per platform; EMAG_API_URL (emag.ro) lives in integrations.py with the other providers.
EMAG_BG_API_URL = env("EMAG_BG_API_URL", default="https://marketplace-api.emag.bg/api-3")
EMAG_HU_API_URL = env("EMAG_HU_API_URL", default="https://marketplace-api.emag.hu/api-3")
# eMAG's limits per account (API_CONTRACTS.md): order routes, and all other routes together.
EMAG_ORDER_RATE_PER_SECOND = env.float("EMAG_ORDER_RATE_PER_SECOND", default=12.0)
EMAG_OTHER_RATE_PER_SECOND = env.float("EMAG_OTHER_RATE_PER_SECOND", default=3.0)
# Requests are spaced evenly at this fraction of those limits: the rest is room for jitter on the
# way, so that no clock second at eMAG ever sees more than the limit (PERF-5 wants ≥ 0.95 of it).
EMAG_PACE_FRACTION = env.float("EMAG_PACE_FRACTION", default=0.97)
# Backoff on retryable errors (429, 5xx, network): base * 2**n with jitter, i.e. 2, 4 … 64 s.
EMAG_BACKOFF_BASE_SECONDS = env.float("EMAG_BACKOFF_BASE_SECONDS", default=2.0)
EMAG_MAX_RETRIES = env.int("EMAG_MAX_RETRIES", default=6)
EMAG_PAGE_SIZE = env.int("EMAG_PAGE_SIZE", default=100)  # itemsPerPage, at most 100
# eMAG's timestamps are local to the platform; naive API times are read in this zone.
EMAG_TIME_ZONE = env("EMAG_TIME_ZONE", default="Europe/Bucharest")
# The first sweep of an account reads orders modified this many days back; later sweeps re-read
# this many minutes before the newest change already seen.
EMAG_INITIAL_SYNC_DAYS = env.int("EMAG_INITIAL_SYNC_DAYS", default=30)
EMAG_SWEEP_OVERLAP_MINUTES = env.int("EMAG_SWEEP_OVERLAP_MINUTES", default=30)
# Monitoring: the window the metrics cover and the alert thresholds behind the health score.
EMAG_METRICS_WINDOW_MINUTES = env.int("EMAG_METRICS_WINDOW_MINUTES", default=15)
EMAG_ALERT_ERROR_RATE = env.float("EMAG_ALERT_ERROR_RATE", default=0.05)
EMAG_ALERT_LATENCY_MS = env.float("EMAG_ALERT_LATENCY_MS", default=2000.0)
EMAG_ALERT_SYNC_SUCCESS = env.float("EMAG_ALERT_SYNC_SUCCESS", default=0.9)
EMAG_ALERT_LIMITER_USAGE = env.float("EMAG_ALERT_LIMITER_USAGE", default=0.9)
# Backups (gzip JSON per account): where, how long they are kept, when the daily run starts (UTC).
EMAG_BACKUP_DIR = env("EMAG_BACKUP_DIR", default=str(BASE_DIR / "var" / "backups" / "emag"))
EMAG_BACKUP_RETENTION_DAYS = env.int("EMAG_BACKUP_RETENTION_DAYS", default=30)
