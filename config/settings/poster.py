"""Settings of the Poster POS integration (SPEC PLAT-3, POS-1..5; names documented in README)."""

from __future__ import annotations

from .env import env

# Poster's API root: the OAuth page is {POSTER_API_URL}/auth.
POSTER_API_URL = env("POSTER_API_URL", default="https://joinposter.com/api")
# An account's own API root ({account} is its Poster name): API calls and the OAuth code exchange
# go there. The sandbox points it at the simulator (no placeholder needed).
POSTER_ACCOUNT_API_URL = env("POSTER_ACCOUNT_API_URL", default="https://{account}.joinposter.com/api")
# The application registered at Poster. The secret signs webhooks and exchanges OAuth codes; it
# has no default (the sandbox run sets a fresh one); without it webhooks are refused (403).
POSTER_APP_ID = env("POSTER_APP_ID", default="")
POSTER_APP_SECRET = env("POSTER_APP_SECRET", default="")
# Where Poster sends the owner back after the OAuth page; must match the application's setting.
POSTER_REDIRECT_URI = env("POSTER_REDIRECT_URI", default="")
# How long a started OAuth connection may take (its signed, single-use state expires after it).
POSTER_OAUTH_STATE_SECONDS = env.int("POSTER_OAUTH_STATE_SECONDS", default=600)

# An entity synced longer ago than this needs a sync (smart sync, GET /api/v1/poster/sync).
POSTER_STALE_AFTER_HOURS = env.int("POSTER_STALE_AFTER_HOURS", default=24)
# Manual syncs (admin, API): at most one per account and entity per this many seconds (429 after).
POSTER_MANUAL_SYNC_INTERVAL_SECONDS = env.int("POSTER_MANUAL_SYNC_INTERVAL_SECONDS", default=60)
# Calls per second to one Poster account, shared by every worker.
POSTER_RATE_PER_SECOND = env.float("POSTER_RATE_PER_SECOND", default=5.0)
# Webhook bodies larger than this are refused (Poster's are a few hundred bytes).
POSTER_WEBHOOK_MAX_BYTES = env.int("POSTER_WEBHOOK_MAX_BYTES", default=65536)
# A webhook's single-object sync is retried this many times (exponential backoff) before it fails.
POSTER_WEBHOOK_MAX_ATTEMPTS = env.int("POSTER_WEBHOOK_MAX_ATTEMPTS", default=6)
# Staff get one e-mail when an account's sync of an entity has failed this many times in a row.
POSTER_ALERT_AFTER_FAILURES = env.int("POSTER_ALERT_AFTER_FAILURES", default=3)

# Poster is the first app to send e-mail (failure alerts to staff): printed to the console unless
# an SMTP backend is configured.
EMAIL_BACKEND = env("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="merchant-ops@localhost")
