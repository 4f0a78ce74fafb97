"""Vendista accounts: connecting one without a shell (owner API and admin), one rate-limited client per
account, connection test, error marking (VEN-1).

Secrets (password, token) are write-only: a value given replaces the stored one, an omitted one is
kept. Errors are Django ``ValidationError``s keyed by field (the API answers 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from core.exceptions import IntegrationError
from core.models import Merchant
from core.ratelimit import Pacer

from ..clients import vendista
from ..clients.vendista import AuthenticationFailed, SubscriptionUnpaid, VendistaClient
from ..models import VendistaAccount


def account_limiter(account: VendistaAccount) -> Pacer:
    """The account's pacer, as the Vendista client declares it."""
    return vendista.pacer(account_id=account.pk, rate_per_second=account.rate_per_second or 1.0)


def account_client(*, account: VendistaAccount, base_url: str | None = None) -> VendistaClient:
    """Every request of this client first waits for a slot of the account's shared pacer (VEN-1)."""
    limiter = account_limiter(account)

    def acquire() -> None:
        limiter.acquire(timeout=120)

    def remember(token: str) -> None:
        # A fresh token from the login is kept (encrypted) so the next run does not log in again.
        account.token = token
        account.save(update_fields=["token"])

    return VendistaClient(
        base_url=base_url or settings.VENDISTA_API_URL,
        token=account.token or "",
        login=account.login,
        password=account.password or "",
        verify=account.tls_verify_value,
        before_request=acquire,
        on_token=remember,
        page_size=settings.VENDISTA_PAGE_SIZE,
    )


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    status: str
    status_code: int
    message: str
    items_count: int | None = None


def account_mark_error(*, account: VendistaAccount, exc: Exception) -> None:
    fields: dict[str, Any] = {"last_error": str(exc)[:2000]}
    if isinstance(exc, SubscriptionUnpaid):
        fields["subscription_status"] = VendistaAccount.Subscription.UNPAID
    VendistaAccount.objects.filter(pk=account.pk).update(**fields)
    for key, value in fields.items():
        setattr(account, key, value)


def account_test_connection(*, account: VendistaAccount) -> ConnectionResult:
    client = account_client(account=account)
    try:
        count = client.connection_test()
    except SubscriptionUnpaid as exc:
        account_mark_error(account=account, exc=exc)
        return ConnectionResult(
            False, "subscription_unpaid", 402, "The Vendista subscription of this account is unpaid (HTTP 402)."
        )
    except AuthenticationFailed as exc:
        account_mark_error(account=account, exc=exc)
        return ConnectionResult(False, "unauthorized", exc.status_code or 401, str(exc))
    except IntegrationError as exc:
        account_mark_error(account=account, exc=exc)
        return ConnectionResult(
            False, "unreachable" if exc.status_code is None else "error", exc.status_code or 0, str(exc)
        )
    VendistaAccount.objects.filter(pk=account.pk).update(
        subscription_status=VendistaAccount.Subscription.ACTIVE, last_error=""
    )
    account.subscription_status = VendistaAccount.Subscription.ACTIVE
    return ConnectionResult(
        True, "ok", 200, gettext("Connected; Vendista reports %(count)s transactions.") % {"count": count}, count
    )


ACCOUNT_FIELDS = ("name", "login", "password", "token", "time_zone", "verify_tls", "ca_bundle_path", "rate_per_second",
          "is_active")  # fmt: skip
MAX_RATE_PER_SECOND = 20.0


def vendista_account_save(
    *, merchant: Merchant, data: dict[str, Any], account: VendistaAccount | None = None
) -> VendistaAccount:
    """Create a Vendista account of ``merchant`` or update ``account``. It needs a login with its
    password (a token is then fetched on first use), or a token. A new login or password drops the
    token of the old login unless a token comes with it."""
    if account is None:
        account = VendistaAccount(merchant=merchant)
    changed = set()
    for name in ACCOUNT_FIELDS:
        if name in data and getattr(account, name) != data[name]:
            setattr(account, name, data[name])
            changed.add(name)
    if changed & {"login", "password"} and "token" not in changed:
        account.token = ""
    vendista_account_check(account=account)
    account.full_clean(exclude=["merchant", "password", "token"])  # the time zone validator
    if changed & {"login", "password", "token"}:
        account.subscription_status = VendistaAccount.Subscription.UNKNOWN
        account.last_error = ""
    with transaction.atomic():
        account.save()
    return account


def vendista_account_check(*, account: VendistaAccount) -> None:
    """The rules of an account as it would be saved (the admin form runs them before saving)."""
    errors: dict[str, list[str]] = {}
    if account.login and not account.password:
        errors["password"] = [gettext("Required with login.")]
    if account.password and not account.login:
        errors["login"] = [gettext("Required with password.")]
    if not errors and not account.login and not account.token:
        errors["non_field_errors"] = [gettext("Give a login and password, or a token.")]
    if not account.name.strip():
        errors["name"] = [gettext("Required.")]
    if not 0 < account.rate_per_second <= MAX_RATE_PER_SECOND:
        errors["rate_per_second"] = [
            gettext("Must be above 0 and at most %(max)s.") % {"max": f"{MAX_RATE_PER_SECOND:g}"}
        ]
    if account.ca_bundle_path and not account.verify_tls:
        errors["ca_bundle_path"] = [gettext("A CA bundle only applies when verify_tls is on.")]
    if errors:
        raise ValidationError(errors)
