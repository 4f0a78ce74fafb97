"""Settings of the vending app (read from the environment; names documented in README)."""

from __future__ import annotations

from .env import env

# ~1 request/s per account is the pace public Vendista clients keep (API_CONTRACTS.md); an account
# may override it. The limiter is shared by every worker through Redis.
VENDISTA_RATE_PER_SECOND = env.float("VENDISTA_RATE_PER_SECOND", default=1.0)
# Items per /transactions page (ItemsOnPage); the server falls back to 50 without it.
VENDISTA_PAGE_SIZE = env.int("VENDISTA_PAGE_SIZE", default=1000)
# Incremental sync re-reads this window before the newest stored transaction (late arrivals).
VENDISTA_INCREMENTAL_OVERLAP_MINUTES = env.int("VENDISTA_INCREMENTAL_OVERLAP_MINUTES", default=180)
# An incremental sync of an account with no rows yet starts this many days back.
VENDISTA_INITIAL_SYNC_DAYS = env.int("VENDISTA_INITIAL_SYNC_DAYS", default=90)
# A full sync starts here (local date of the account).
VENDISTA_HISTORY_START = env("VENDISTA_HISTORY_START", default="2018-01-01")
# The nightly sync re-reads this many previous local days (corrections, reversals).
VENDISTA_NIGHTLY_DAYS = env.int("VENDISTA_NIGHTLY_DAYS", default=2)
# Rows written per database batch (one COPY + upsert + progress update).
VENDISTA_INGEST_BATCH = env.int("VENDISTA_INGEST_BATCH", default=20000)
# Longest report range owners may ask for, in days.
VENDISTA_REPORT_MAX_DAYS = env.int("VENDISTA_REPORT_MAX_DAYS", default=800)
# POST /api/v1/vending/sync waits at most this long for the queued run before answering 202.
VENDISTA_API_SYNC_WAIT_SECONDS = env.float("VENDISTA_API_SYNC_WAIT_SECONDS", default=0.0)
# Database connections writing pages in parallel during a sync (PostgreSQL; 1 = in the sync's own thread).
VENDISTA_INGEST_WRITERS = env.int("VENDISTA_INGEST_WRITERS", default=2)
