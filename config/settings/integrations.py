"""Base URLs of every external service, so a sandbox simulator can stand in (SPEC PLAT-3, PLAT-12)."""

from __future__ import annotations

from .env import env

MQTT_URL = env("MQTT_URL", default="mqtt://127.0.0.1:1883")
ORDER_EXPIRATION_MINUTES = env.int("ORDER_EXPIRATION_MINUTES", default=15)

YOOKASSA_API_URL = env("YOOKASSA_API_URL", default="https://api.yookassa.ru/v3")
TBANK_API_URL = env("TBANK_API_URL", default="https://securepay.tinkoff.ru/v2")
TMETR_API_URL = env("TMETR_API_URL", default="")
VENDISTA_API_URL = env("VENDISTA_API_URL", default="https://api.vendista.ru:99")
EMAG_API_URL = env("EMAG_API_URL", default="https://marketplace-api.emag.ro/api-3")
CHROMIUM_EXECUTABLE = env("CHROMIUM_EXECUTABLE", default="")

# Where `make run` serves the simulators (sandbox/); the public URL buyers' pages link back to.
SANDBOX_HOST = env("SANDBOX_HOST", default="127.0.0.1")
SANDBOX_BASE_PORT = env.int("SANDBOX_BASE_PORT", default=8100)
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="http://127.0.0.1:8000")

# Default outgoing HTTP timeouts (connect, read) in seconds; every call is bounded (PLAT-7).
HTTP_CONNECT_TIMEOUT = env.float("HTTP_CONNECT_TIMEOUT", default=3.05)
HTTP_READ_TIMEOUT = env.float("HTTP_READ_TIMEOUT", default=15.0)
HTTP_MAX_RETRIES = env.int("HTTP_MAX_RETRIES", default=3)

# Alerts (SPEC OWN-4): the sandbox alert inbox `make run` points the demo merchant's channel at
# (sandbox/alert_inbox.py); empty in production, where owners add their own channels.
ALERTS_SANDBOX_URL = env("ALERTS_SANDBOX_URL", default="")
# Which Apprise URLs an owner may give a channel: one of these services, whose servers Apprise itself
# names (the URL carries only credentials and ids: tgram://token/chat, slack://…, discord://…) …
ALERTS_APPRISE_SCHEMES = env.list(
    "ALERTS_APPRISE_SCHEMES", default=["tgram", "slack", "discord", "msteams", "pover", "pbul"]
)
# … or any URL whose host is on this list (a self-hosted ntfy or Gotify, a json:// webhook). Empty by
# default: an owner must not point the workers at an address inside the network (SSRF). The host of
# ALERTS_SANDBOX_URL is always allowed (`make run`'s sandbox inbox).
ALERTS_APPRISE_HOSTS = env.list("ALERTS_APPRISE_HOSTS", default=[])
