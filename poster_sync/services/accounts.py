"""Poster accounts: the API client of an account, the OAuth connect flow (SPEC POS-1).

The flow carries no session: the ``state`` sent to Poster is signed (``django.core.signing``), names
the merchant, the user who started and the redirect URI, expires after
``POSTER_OAUTH_STATE_SECONDS``, and is single-use (a nonce kept in Redis until it is redeemed or
expires). So an owner can start from the API (``POST /api/v1/poster/accounts/connect/``) and the
callback trusts only what it can verify: a forged, expired or reused state, or one naming a merchant
its user no longer owns or manages, connects nothing. Staff start from the admin the same way.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.logging import untrusted
from core.models import Merchant
from core.redis_client import shared_redis
from core.selectors import merchants_for_user

from ..clients import poster
from ..clients.poster import PosterClient
from ..models import PosterAccount, account_name_validator

log = logging.getLogger(__name__)


class ConnectError(Exception):
    """The OAuth connection could not be completed; the message is safe to show to the owner."""


class StateRefused(ConnectError):
    """The callback's ``state`` is forged, expired, used already, or its user may not connect its merchant."""

    def __init__(self, message: str, *, forbidden: bool = False) -> None:
        super().__init__(message)
        self.forbidden = forbidden  # 403 rather than 400


STATE_SALT = "poster_sync.oauth.state"


def _nonce_key(nonce: str) -> str:
    return f"merchant-ops:poster:oauth:{nonce}"


@dataclass(frozen=True)
class OAuthGrant:
    """What a redeemed ``state`` vouches for."""

    merchant: Merchant
    user: Any
    redirect_uri: str


def merchants_connectable(*, user: Any) -> list[Merchant]:
    """Merchants whose Poster the user may connect: staff any, others those they own or manage."""
    if getattr(user, "is_staff", False) and user.is_active:
        return list(Merchant.objects.order_by("pk"))
    return list(merchants_for_user(user=user, write=True).order_by("pk"))


def oauth_state_issue(*, user: Any, merchant: Merchant, redirect_uri: str) -> str:
    """A signed, expiring, single-use ``state`` binding the merchant, the user and the redirect URI."""
    if merchant.pk not in {m.pk for m in merchants_connectable(user=user)}:
        raise StateRefused("You may not connect Poster for this merchant.", forbidden=True)
    nonce = secrets.token_urlsafe(16)
    shared_redis().set(_nonce_key(nonce), str(user.pk), ex=max(1, settings.POSTER_OAUTH_STATE_SECONDS))
    return signing.dumps({"m": merchant.pk, "u": user.pk, "r": redirect_uri, "n": nonce}, salt=STATE_SALT)


def oauth_state_redeem(*, state: str) -> OAuthGrant:
    """Check and use up a ``state``; ``StateRefused`` says why it connects nothing."""
    try:
        data = signing.loads(state, salt=STATE_SALT, max_age=settings.POSTER_OAUTH_STATE_SECONDS)
    except signing.SignatureExpired as exc:
        raise StateRefused("This connection request has expired: start connecting Poster again.") from exc
    except signing.BadSignature as exc:
        raise StateRefused("This answer does not belong to a connection request of ours.") from exc
    if not (
        isinstance(data, dict)
        and isinstance(data.get("m"), int)
        and isinstance(data.get("u"), int)
        and isinstance(data.get("r"), str)
        and isinstance(data.get("n"), str)
    ):
        raise StateRefused("This answer does not belong to a connection request of ours.")
    if not shared_redis().delete(_nonce_key(data["n"])):
        raise StateRefused("This connection request was used already: start connecting Poster again.")
    user = get_user_model().objects.filter(pk=data["u"], is_active=True).first()
    merchant = next((m for m in merchants_connectable(user=user) if m.pk == data["m"]), None) if user else None
    if merchant is None:
        log.warning("Poster OAuth callback for merchant %s refused: user %s may not connect it", data["m"], data["u"])
        raise StateRefused("The user who started this connection may not connect this merchant.", forbidden=True)
    return OAuthGrant(merchant=merchant, user=user, redirect_uri=data["r"])


def account_api_url(*, account_name: str) -> str:
    account_name_validator(account_name)  # only a valid sub-domain may reach the URL
    return settings.POSTER_ACCOUNT_API_URL.replace("{account}", account_name)


def account_client(*, account: PosterAccount) -> PosterClient:
    pacer = poster.pacer(account_id=account.pk, rate_per_second=settings.POSTER_RATE_PER_SECOND)

    def acquire() -> None:
        pacer.acquire(timeout=60)

    base = account.api_url or account_api_url(account_name=account.account)
    return PosterClient(base_url=base, token=str(account.access_token or ""), before_request=acquire)


def account_mark_error(*, account: PosterAccount, error: str, needs_reconnect: bool = False) -> None:
    """The account's last error ("" once it works); ``needs_reconnect`` when Poster refused the token."""
    PosterAccount.objects.filter(pk=account.pk).update(last_error=error[:2000], needs_reconnect=needs_reconnect)
    account.last_error = error[:2000]
    account.needs_reconnect = needs_reconnect


ACCOUNT_FIELDS = ("account", "account_number", "access_token", "source", "api_url", "is_active")


def poster_account_save(
    *, merchant: Merchant, data: dict[str, Any], account: PosterAccount | None = None
) -> PosterAccount:
    """Create a Poster account of ``merchant`` with a pasted token, or update ``account`` (the admin's
    write; owners connect through OAuth). A token left out or blank keeps the stored one (write-only);
    a new token clears ``needs_reconnect``: Poster has not refused this one."""
    if account is None:
        account = PosterAccount(merchant=merchant)
    changed = set()
    for name in ACCOUNT_FIELDS:
        if name not in data or (name == "access_token" and not data[name]):
            continue
        if getattr(account, name) != data[name]:
            setattr(account, name, data[name])
            changed.add(name)
    if "access_token" in changed:
        account.needs_reconnect = False
    account.full_clean()
    with transaction.atomic():
        account.save()
    return account


def oauth_redirect_uri(*, default: str) -> str:
    return settings.POSTER_REDIRECT_URI or default


def oauth_start(*, user: Any, merchant: Merchant, redirect_uri: str) -> str:
    """The Poster authorisation URL to send the user to, with a fresh ``state``."""
    if not settings.POSTER_APP_ID or not settings.POSTER_APP_SECRET:
        raise ConnectError("Poster is not configured: set POSTER_APP_ID and POSTER_APP_SECRET.")
    state = oauth_state_issue(user=user, merchant=merchant, redirect_uri=redirect_uri)
    query = urlencode(
        {
            "application_id": settings.POSTER_APP_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "state": state,
        }
    )
    return f"{settings.POSTER_API_URL.rstrip('/')}/auth?{query}"


def account_connect_oauth(*, merchant: Merchant, account_name: str, code: str, redirect_uri: str) -> PosterAccount:
    """Exchange Poster's code for a token and store it (encrypted) on the merchant's account."""
    try:
        base = account_api_url(account_name=account_name)
    except ValidationError as exc:
        raise ConnectError("Poster returned an invalid account name.") from exc
    existing = PosterAccount.objects.filter(account=account_name).first()
    if existing is not None and existing.merchant_id != merchant.pk:
        raise ConnectError("This Poster account is already connected to another merchant.")
    from core.exceptions import IntegrationError

    try:
        grant = PosterClient(base_url=base).exchange_code(
            application_id=settings.POSTER_APP_ID,
            application_secret=settings.POSTER_APP_SECRET,
            redirect_uri=redirect_uri,
            code=code,
        )
    except IntegrationError as exc:
        log.warning("Poster code exchange for %s failed: %s", untrusted(account_name), untrusted(str(exc), 200))
        raise ConnectError("Poster did not accept the authorisation; please try connecting again.") from exc
    with transaction.atomic():
        account, _ = PosterAccount.objects.select_for_update().get_or_create(
            account=account_name, defaults={"merchant": merchant}
        )
        account.access_token = grant.access_token
        account.account_number = grant.account_number
        account.source = PosterAccount.Source.OAUTH
        account.is_active = True
        account.last_error = ""
        account.needs_reconnect = False
        account.connected_at = timezone.now()
        account.save()
    log.info("Poster account %s connected to merchant %s", untrusted(account_name), merchant.pk)
    return account
