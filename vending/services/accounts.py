"""Vendista accounts: one rate-limited client per account, connection test, error marking (VEN-1)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.exceptions import IntegrationError
from core.ratelimit import Rate, RateLimiter

from ..clients.vendista import AuthenticationFailed, SubscriptionUnpaid, VendistaClient
from ..models import VendistaAccount


def account_limiter(account: VendistaAccount) -> RateLimiter:
    return RateLimiter(f"vendista:{account.pk}", Rate.per_second(account.rate_per_second or 1.0))


def account_client(*, account: VendistaAccount, base_url: str | None = None) -> VendistaClient:
    """Every request of this client first waits for the account's shared rate limiter (VEN-1)."""
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
    return ConnectionResult(True, "ok", 200, f"Connected; Vendista reports {count} transactions.", count)
