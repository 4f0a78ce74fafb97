"""Poster accounts: the API client of an account, the OAuth connect flow (SPEC POS-1)."""

from __future__ import annotations

import logging
import secrets
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from core.logging import untrusted
from core.models import Merchant
from core.ratelimit import Pacer

from ..clients.poster import PosterClient
from ..models import PosterAccount, account_name_validator

log = logging.getLogger(__name__)


class ConnectError(Exception):
    """The OAuth connection could not be completed; the message is safe to show to the owner."""


def account_api_url(*, account_name: str) -> str:
    account_name_validator(account_name)  # only a valid sub-domain may reach the URL
    return settings.POSTER_ACCOUNT_API_URL.replace("{account}", account_name)


def account_client(*, account: PosterAccount) -> PosterClient:
    # Spaced evenly, not a moving window: a window lets five calls through at once and then makes
    # the sixth wait most of a second, which is what a webhook's latency then shows (PERF-6).
    pacer = Pacer(f"poster:{account.pk}", settings.POSTER_RATE_PER_SECOND)

    def acquire() -> None:
        pacer.acquire(timeout=60)

    base = account.api_url or account_api_url(account_name=account.account)
    return PosterClient(base_url=base, token=str(account.access_token or ""), before_request=acquire)


def account_mark_error(*, account: PosterAccount, error: str) -> None:
    PosterAccount.objects.filter(pk=account.pk).update(last_error=error[:2000])
    account.last_error = error[:2000]


def oauth_redirect_uri(*, default: str) -> str:
    return settings.POSTER_REDIRECT_URI or default


def oauth_start(*, redirect_uri: str) -> tuple[str, str]:
    """The Poster authorisation URL to send the owner to, and the ``state`` to remember."""
    if not settings.POSTER_APP_ID or not settings.POSTER_APP_SECRET:
        raise ConnectError("Poster is not configured: set POSTER_APP_ID and POSTER_APP_SECRET.")
    state = secrets.token_urlsafe(24)
    query = urlencode(
        {
            "application_id": settings.POSTER_APP_ID,
            "redirect_uri": redirect_uri,
            "response_type": "code",
            "state": state,
        }
    )
    return f"{settings.POSTER_API_URL.rstrip('/')}/auth?{query}", state


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
        account.connected_at = timezone.now()
        account.save()
    log.info("Poster account %s connected to merchant %s", untrusted(account_name), merchant.pk)
    return account
