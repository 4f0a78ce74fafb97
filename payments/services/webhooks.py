"""Provider notifications, one way for every provider: authenticate → confirm with the provider → record.

The views only parse the body, describe the notification (:class:`Notification`) and map the
:class:`Outcome` to HTTP: 200 (authentic: stored, a duplicate, or a business outcome such as an
expired order, so the provider stops redelivering), 400 (malformed, unknown, not confirmed by the
provider), 403 (bad signature), 429 (an unsigned notification for a payment id whose unconfirmed
notification was read from the provider within ``WEBHOOK_CONFIRM_INTERVAL_SECONDS``), 503 (the
provider did not answer in time: it redelivers later).

A provider that signs its notifications (T-Bank: SHA-256 token) is authenticated before anything
else. One that does not (YooKassa) is authenticated by reading the payment back from the provider.
The provider read is one attempt bounded by ``WEBHOOK_PROVIDER_TIMEOUT_SECONDS``: a slow provider
must not hold a web thread through retries (gunicorn kills a worker after 30 s).
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.conf import settings
from redis.commands.core import Script

from core.exceptions import IntegrationError, TransientError
from core.logging import untrusted
from core.redis_client import shared_redis

from ..models import PaymentAccount, WebhookDelivery
from . import providers
from .payments import payment_for_notification, status_confirms, webhook_record

log = logging.getLogger("payments.webhooks")


@dataclass(frozen=True)
class Notification:
    provider: str
    event_key: str  # one per provider event: a redelivery has the same key
    event: str
    provider_payment_id: str
    claimed: str  # the normalized payment status the notification claims
    payload: dict[str, Any]
    # Checks the provider's signature with the merchant's credentials; None: the provider signs nothing.
    authenticate: Callable[[PaymentAccount], bool] | None = None
    check_order: bool = True  # the provider's copy must name our order id


@dataclass(frozen=True)
class Outcome:
    status: int  # 200, 400, 403, 429 or 503
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == 200


OK = Outcome(200)


class _Confirmation:
    """At most one provider read in flight per unsigned payment id, and none for
    ``WEBHOOK_CONFIRM_INTERVAL_SECONDS`` after a read that did not confirm (Redis, every web process).

    Concurrent notifications of one payment wait for the read in flight instead of reading too: a
    genuine duplicate then finds its event stored (200) and a forged one finds the payment marked
    unconfirmed (429). So forged notifications cost at most one provider call per real payment id per
    interval, and the provider's own concurrent redeliveries are never refused.

    Each step is one Redis round trip (a script): the webhook is on the latency-critical path (PERF-4)."""

    def __init__(self, provider: str, provider_payment_id: str, event_key: str) -> None:
        base = f"merchant-ops:webhook-confirm:{provider}:{provider_payment_id}"
        # ``stored``: this event was confirmed and committed by a read of this payment (the database's
        # unique key stays the guard; the mark only spares a redundant provider read).
        self.keys = [f"{base}:reading", f"{base}:unconfirmed", f"{base}:stored:{event_key[:200]}"]
        self.token = secrets.token_hex(8)

    def take(self) -> str:
        """ "spent" (a recent read did not confirm), "stored" (a read in flight confirmed and stored this
        event), "taken" (ours to read) or "busy" (another read is in flight)."""
        hold_ms = int((settings.WEBHOOK_PROVIDER_TIMEOUT_SECONDS + 2) * 1000)  # outlives one bounded read
        return _scripts().take(keys=self.keys, args=[self.token, hold_ms]).decode()

    def release(self, *, confirmed: bool | None, stored: bool = False) -> None:
        """``confirmed`` False: the answer did not confirm — spent for the interval; None: no answer.
        ``stored``: the confirmed event is committed."""
        spent_ms = max(1, int(settings.WEBHOOK_CONFIRM_INTERVAL_SECONDS * 1000)) if confirmed is False else 0
        stored_ms = max(1000, int(settings.WEBHOOK_CONFIRM_INTERVAL_SECONDS * 1000)) if stored else 0
        _scripts().release(keys=self.keys, args=[self.token, spent_ms, stored_ms])


_TAKE = """
if redis.call('EXISTS', KEYS[2]) == 1 then return 'spent' end
if redis.call('EXISTS', KEYS[3]) == 1 then return 'stored' end
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 'taken' end
return 'busy'
"""
_RELEASE = """
if ARGV[2] ~= '0' then redis.call('SET', KEYS[2], '1', 'PX', ARGV[2]) end
if ARGV[3] ~= '0' then redis.call('SET', KEYS[3], '1', 'PX', ARGV[3]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""


@dataclass(frozen=True)
class _Scripts:
    take: Script
    release: Script


@lru_cache(maxsize=4)
def _scripts_for(redis_url: str) -> _Scripts:
    redis = shared_redis(redis_url)
    return _Scripts(take=redis.register_script(_TAKE), release=redis.register_script(_RELEASE))


def _scripts() -> _Scripts:
    return _scripts_for(settings.REDIS_URL)


def _stored(n: Notification) -> bool:
    return WebhookDelivery.objects.filter(provider=n.provider, event_key=n.event_key[:200]).exists()


def webhook_receive(*, notification: Notification, remote_addr: str | None) -> Outcome:
    n = notification
    payment = payment_for_notification(
        provider=n.provider, provider_payment_id=n.provider_payment_id, event_key=n.event_key
    )
    if payment is None:
        return Outcome(400, "unknown payment")
    known = bool(payment.known)  # type: ignore[attr-defined]
    if known and n.authenticate is None:
        # Already authenticated and stored once: a redelivery. Nothing in this body is used, so it
        # cannot change anything even if forged; answering 200 stops the provider's retries.
        return OK
    try:
        account = payment.order.merchant.payment_account  # read with the payment (one query)
    except PaymentAccount.DoesNotExist:  # the merchant has no payment account: a configuration error
        return Outcome(400, "the merchant has no payment account")
    if n.authenticate is not None and not n.authenticate(account):
        return Outcome(403, "bad token")
    if known:
        return OK  # an authentic redelivery of a stored event
    # Unsigned (YooKassa): anyone can send one naming a real payment id, and each costs a read of the
    # merchant's provider account. A read whose answer does not confirm the notification keeps the
    # payment's budget spent for the interval (further ones: 429, the real provider redelivers); one
    # that confirms, or that got no answer in time, gives it back. A confirmed event is stored, and
    # its repeats never reach the provider.
    confirmation = _Confirmation(n.provider, n.provider_payment_id, n.event_key) if n.authenticate is None else None
    if confirmation is not None:
        deadline = time.monotonic() + settings.WEBHOOK_PROVIDER_TIMEOUT_SECONDS + 2
        while True:
            state = confirmation.take()
            if state == "spent":
                log.warning(
                    "%s notification for payment %s: not confirmed recently",
                    n.provider,
                    untrusted(n.provider_payment_id),
                )
                return Outcome(429, "this payment was asked about recently; try later")
            if state == "stored":  # a read since our first look confirmed and stored this very event
                return OK
            if state == "taken":
                break
            if time.monotonic() > deadline:  # the read in flight outlived its bound: the provider redelivers
                return Outcome(503, "provider unavailable")
            time.sleep(0.05)
            if _stored(n):  # the read in flight confirmed and stored this very event
                return OK
    try:
        remote = providers.fetch(
            provider=n.provider,
            account=account,
            provider_payment_id=n.provider_payment_id,
            timeout=settings.WEBHOOK_PROVIDER_TIMEOUT_SECONDS,
        )
    except TransientError as exc:
        log.warning(
            "%s did not confirm payment %s in time: %s",
            n.provider,
            untrusted(n.provider_payment_id),
            untrusted(str(exc), 200),
        )
        if confirmation is not None:
            confirmation.release(confirmed=None)  # no answer, nothing learned: a redelivery may ask again
        return Outcome(503, "provider unavailable")
    except IntegrationError:
        if confirmation is not None:
            confirmation.release(confirmed=False)
        return Outcome(400, "payment not found at the provider")
    if (n.check_order and remote.order_id != str(payment.order_id)) or not status_confirms(n.claimed, remote.status):
        if confirmation is not None:
            confirmation.release(confirmed=False)
        return Outcome(400, f"provider reports {remote.status}, notification claims {n.claimed}")
    stored = False
    try:
        webhook_record(
            provider=n.provider,
            event_key=n.event_key,
            event=n.event,
            payment_id=payment.pk,
            provider_payment_id=n.provider_payment_id,
            verified_status=remote.status,
            payload=n.payload,
            remote_addr=remote_addr,
        )
        stored = True
    finally:
        if confirmation is not None:
            confirmation.release(confirmed=True, stored=stored)
    return OK
