"""Bearer tokens for Tmetr (API_CONTRACTS.md: Keycloak JWTs that last ~10 hours; the client must
refresh them or be reconfigured without a restart).

A merchant's ``TmetrAccount`` is read on every call. Its access token is used while it is valid;
shortly before it expires, or when Tmetr answered 401 to it, a new one is fetched from Keycloak
with the refresh token, else with the username and password. Without an account, the process-wide
``TMETR_TOKEN`` is used as it is.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.exceptions import IntegrationError
from core.http import http_client
from payments.clients.tmetr import TmetrClient
from payments.models import TmetrAccount

log = logging.getLogger("payments.tmetr")
SERVICE = "tmetr-auth"


def tmetr_client(*, merchant_id: int | None) -> TmetrClient:
    """A Tmetr client that authenticates as this merchant (and renews the token when Tmetr asks)."""
    return TmetrClient(token_source=partial(tmetr_token, merchant_id=merchant_id))


def tmetr_token(*, merchant_id: int | None, stale: str | None = None) -> str:
    """The bearer token to call Tmetr with. ``stale``: Tmetr has just refused that token (401).

    Renewal holds the account's row lock and re-checks under it, so concurrent workers make one
    grant — Keycloak may rotate refresh tokens, and a spent one cannot be used twice.
    """
    account = TmetrAccount.objects.filter(merchant_id=merchant_id).first() if merchant_id is not None else None
    if account is None:
        return str(settings.TMETR_TOKEN)
    if _fresh(account, stale):
        return str(account.access_token)
    if not _can_renew(account):
        if stale is not None:
            log.warning(
                "Tmetr refused the token of merchant %s and it cannot be renewed here "
                "(set the Tmetr login or paste a new token in the admin)",
                merchant_id,
            )
        return str(account.access_token or settings.TMETR_TOKEN)
    with transaction.atomic():
        account = TmetrAccount.objects.select_for_update().get(pk=account.pk)
        if _fresh(account, stale):  # renewed by someone else while we waited for the lock
            return str(account.access_token)
        tokens = _grant(account)
        now = timezone.now()
        account.access_token = tokens["access_token"]
        account.access_expires_at = now + timedelta(seconds=int(tokens.get("expires_in") or 300))
        if tokens.get("refresh_token"):
            account.refresh_token = tokens["refresh_token"]
            refresh_in = int(tokens.get("refresh_expires_in") or 0)  # 0: an offline token, no expiry
            account.refresh_expires_at = now + timedelta(seconds=refresh_in) if refresh_in else None
        account.save(
            update_fields=["access_token", "access_expires_at", "refresh_token", "refresh_expires_at", "updated_at"]
        )
        log.info("Tmetr token of merchant %s renewed, valid until %s", merchant_id, account.access_expires_at)
        return str(account.access_token)


def _fresh(account: TmetrAccount, stale: str | None) -> bool:
    if not account.access_token or (stale is not None and str(account.access_token) == stale):
        return False
    if account.access_expires_at is None:  # a token pasted by hand: good until Tmetr refuses it
        return True
    margin = timedelta(seconds=settings.TMETR_TOKEN_REFRESH_MARGIN_SECONDS)
    return account.access_expires_at > timezone.now() + margin


def _refresh_usable(account: TmetrAccount) -> bool:
    return bool(account.refresh_token) and (
        account.refresh_expires_at is None or account.refresh_expires_at > timezone.now() + timedelta(seconds=5)
    )


def _can_renew(account: TmetrAccount) -> bool:
    return bool(settings.TMETR_TOKEN_URL) and (_refresh_usable(account) or bool(account.username and account.password))


def _grant(account: TmetrAccount) -> dict[str, Any]:
    client = http_client(f"{SERVICE}-auth", settings.TMETR_TOKEN_URL)
    base = {"client_id": settings.TMETR_CLIENT_ID}
    if _refresh_usable(account):
        try:
            # Not repeated on a timeout: a rotated refresh token may already be spent.
            return _tokens(
                client.json(
                    "POST",
                    settings.TMETR_TOKEN_URL,
                    idempotent=False,
                    data={**base, "grant_type": "refresh_token", "refresh_token": str(account.refresh_token)},
                )
            )
        except IntegrationError as exc:
            if not (account.username and account.password):
                raise
            log.info(
                "Tmetr refresh token of merchant %s not accepted (%s); logging in again",
                account.merchant_id,
                exc.status_code,
            )
    if not (account.username and account.password):
        raise IntegrationError("Tmetr login is not configured", service=SERVICE, permanent=True)
    return _tokens(
        client.json(
            "POST",
            settings.TMETR_TOKEN_URL,
            idempotent=True,
            data={**base, "grant_type": "password", "username": account.username, "password": str(account.password)},
        )
    )


def _tokens(data: Any) -> dict[str, Any]:
    if not isinstance(data, dict) or not data.get("access_token"):
        raise IntegrationError("Keycloak sent no access token", service=SERVICE, permanent=True)
    return data
