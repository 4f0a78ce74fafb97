"""Defences against abuse from outside (SPEC PLAT-4, PLAT-13, PAY-1): login lockouts (django-axes),
expiring owner API tokens (django-rest-knox), a second factor for the admin (django-otp), the
client-address rule. Every name is documented in README "Configuration"."""

from __future__ import annotations

from datetime import timedelta

from .env import env

_DEBUG = env.bool("DEBUG", default=False)

# Proxies of ours in front of the app that append the client's address to X-Forwarded-For; 0: the
# socket's peer is the client (core.clientip). Only set it when clients cannot bypass the proxies.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)

# --- Login lockout (django-axes): the admin login and POST /api/v1/auth/token/ ---------------------
# LOGIN_FAILURE_LIMIT failures for one username, or from one client address, lock that username /
# address out for LOGIN_COOLOFF_MINUTES after the latest failure (a failure while locked out starts
# the window again). The API answers 429 with Retry-After, the admin login a 429 page. Attempts and
# lockouts are in the admin (Axes → Access attempts / Access failures) and in the log.
AXES_ENABLED = env.bool("LOGIN_LOCKOUT_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=10)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_CLIENT_IP_CALLABLE = "core.clientip.client_ip"
AXES_LOCKOUT_CALLABLE = "core.auth.lockout_response"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_RESET_ON_SUCCESS = False  # else a guesser with one account of its own could clear its address's count
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = True
AXES_VERBOSE = False  # no banner at every start; lockouts are still logged (WARNING, core.auth.client_str)
AXES_CLIENT_STR_CALLABLE = "core.auth.client_str"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses locked-out usernames and addresses
    "django.contrib.auth.backends.ModelBackend",
]

# --- Owner API tokens (django-rest-knox) -------------------------------------------------------------
# Stored as hashes; each expires API_TOKEN_TTL_HOURS after it was issued; one per client name.
KNOX_TOKEN_MODEL = "core.ApiToken"
# knox's own migrations create its default token table whatever TOKEN_MODEL says; with the model
# swapped for core.ApiToken the knox app has no table of its own to migrate.
MIGRATION_MODULES = {"knox": None}
REST_KNOX = {
    "TOKEN_TTL": timedelta(hours=env.float("API_TOKEN_TTL_HOURS", default=24 * 30)),
    "TOKEN_LIMIT_PER_USER": env.int("API_TOKEN_LIMIT_PER_USER", default=20),
    "AUTO_REFRESH": False,
    "AUTH_HEADER_PREFIX": "Token",
}

# --- Second factor for the admin (django-otp, TOTP) ------------------------------------------------
# On by default when DEBUG is off: staff sign into the admin with password + a TOTP code (or one of
# their recovery codes). Enrol and recover with `manage.py otp_enrol <username>` (README).
ADMIN_REQUIRE_OTP = env.bool("ADMIN_REQUIRE_OTP", default=not _DEBUG)
OTP_TOTP_ISSUER = env("OTP_TOTP_ISSUER", default="merchant-ops")
