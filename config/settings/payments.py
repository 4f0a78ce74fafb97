"""Settings of the payments app (read from the environment; names documented in README)."""

from __future__ import annotations

from .env import env

# MQTT brew channel: commands on <prefix>/<device>/commands, acks on <prefix>/<device>/events/ack.
MQTT_TOPIC_PREFIX = env("MQTT_TOPIC_PREFIX", default="devices")
MQTT_CLIENT_ID_PREFIX = env("MQTT_CLIENT_ID_PREFIX", default="merchant-ops")
# The ack listener's fixed client id: its persistent broker session keeps the acknowledgements sent
# while it is down. Empty = "<MQTT_CLIENT_ID_PREFIX>-listener-<MQTT_TOPIC_PREFIX>".
MQTT_LISTENER_CLIENT_ID = env("MQTT_LISTENER_CLIENT_ID", default="")
# How long a device may take to acknowledge "done" before the command counts as failed (PAY-6).
BREW_ACK_TIMEOUT_SECONDS = env.int("BREW_ACK_TIMEOUT_SECONDS", default=120)
# YooKassa SDK calls are bounded by this (the SDK itself sets no timeout).
YOOKASSA_TIMEOUT_SECONDS = env.float("YOOKASSA_TIMEOUT_SECONDS", default=10.0)
# Check the notification sender (core.clientip: behind a proxy set TRUSTED_PROXY_COUNT) against
# YooKassa's published IP ranges. On whenever DEBUG is off: each notification that passes costs a call
# to the merchant's YooKassa account, so forged ones must be refused before it (PAY-1).
YOOKASSA_CHECK_IP = env.bool("YOOKASSA_CHECK_IP", default=not env.bool("DEBUG", default=False))
# Unsigned notifications (YooKassa) are confirmed by reading the payment from the provider: at most one
# unconfirmed read per payment id per this many seconds, whoever sends them (later ones: 429, redelivered).
WEBHOOK_CONFIRM_INTERVAL_SECONDS = env.int("WEBHOOK_CONFIRM_INTERVAL_SECONDS", default=60)
# Anonymous orders on the buyer pages (PAY-1, REL-3): at most this many per client address, and per
# coffee machine, within BUYER_ORDER_WINDOW_SECONDS; past that a friendly page (429). 0: no limit.
BUYER_ORDERS_PER_ADDRESS = env.int("BUYER_ORDERS_PER_ADDRESS", default=10)
BUYER_ORDERS_PER_DEVICE = env.int("BUYER_ORDERS_PER_DEVICE", default=60)
BUYER_ORDER_WINDOW_SECONDS = env.int("BUYER_ORDER_WINDOW_SECONDS", default=600)
# Buyer pages poll the order status this often (ms).
ORDER_STATUS_POLL_MS = env.int("ORDER_STATUS_POLL_MS", default=1500)
# Reconciliation re-reads payments still pending after this many seconds.
PAYMENT_RECONCILE_AFTER_SECONDS = env.int("PAYMENT_RECONCILE_AFTER_SECONDS", default=60)
# Tmetr bearer token for merchants without a Tmetr login in the admin (a process-wide fallback:
# changing it needs a restart; per-merchant logins in the database do not, and are refreshed).
TMETR_TOKEN = env("TMETR_TOKEN", default="")
# Keycloak token endpoint and client of Tmetr (…/realms/<realm>/protocol/openid-connect/token).
TMETR_TOKEN_URL = env("TMETR_TOKEN_URL", default="")
TMETR_CLIENT_ID = env("TMETR_CLIENT_ID", default="")
# Refresh the access token this long before it expires.
TMETR_TOKEN_REFRESH_MARGIN_SECONDS = env.int("TMETR_TOKEN_REFRESH_MARGIN_SECONDS", default=300)
# A capture, cancel or refund not confirmed this long after its last attempt is run again by the
# settlement sweep, with the same idempotence key (REL-1).
PAYMENTS_SETTLEMENT_GRACE_SECONDS = env.int("PAYMENTS_SETTLEMENT_GRACE_SECONDS", default=60)
# The provider read on the webhook path (authenticate → confirm → record): one attempt, this bound;
# a timeout answers 503 and the provider redelivers (a web thread must stay well under gunicorn's 30 s).
WEBHOOK_PROVIDER_TIMEOUT_SECONDS = env.float("WEBHOOK_PROVIDER_TIMEOUT_SECONDS", default=5.0)
