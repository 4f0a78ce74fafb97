"""Settings of the payments app (read from the environment; names documented in README)."""

from __future__ import annotations

from .env import env

# MQTT brew channel: commands on <prefix>/<device>/commands, acks on <prefix>/<device>/events/ack.
MQTT_TOPIC_PREFIX = env("MQTT_TOPIC_PREFIX", default="devices")
MQTT_CLIENT_ID_PREFIX = env("MQTT_CLIENT_ID_PREFIX", default="merchant-ops")
# How long a device may take to acknowledge "done" before the command counts as failed (PAY-6).
BREW_ACK_TIMEOUT_SECONDS = env.int("BREW_ACK_TIMEOUT_SECONDS", default=120)
# YooKassa SDK calls are bounded by this (the SDK itself sets no timeout).
YOOKASSA_TIMEOUT_SECONDS = env.float("YOOKASSA_TIMEOUT_SECONDS", default=10.0)
# Check the notification sender against YooKassa's published IP ranges (off behind proxies/sandbox).
YOOKASSA_CHECK_IP = env.bool("YOOKASSA_CHECK_IP", default=False)
# Buyer pages poll the order status this often (ms).
ORDER_STATUS_POLL_MS = env.int("ORDER_STATUS_POLL_MS", default=1500)
# Reconciliation re-reads payments still pending after this many seconds.
PAYMENT_RECONCILE_AFTER_SECONDS = env.int("PAYMENT_RECONCILE_AFTER_SECONDS", default=60)
# Tmetr bearer token (Keycloak JWT); re-read on every call so it can be changed without a restart.
TMETR_TOKEN = env("TMETR_TOKEN", default="")
