"""Connecting a merchant's Vendista accounts without a shell (issue 9, SPEC VEN-1).

Owner API writes through here (the lead moves this into the vending services package). Secrets
(password, token) are write-only: a value given replaces the stored one, an omitted one is kept.
Errors are Django ``ValidationError``s keyed by field (the API answers 400).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from core.models import Merchant

from .models import VendistaAccount

FIELDS = ("name", "login", "password", "token", "time_zone", "verify_tls", "ca_bundle_path", "rate_per_second",
          "is_active")  # fmt: skip
MAX_RATE_PER_SECOND = 20.0


def save_vendista_account(
    *, merchant: Merchant, data: dict[str, Any], account: VendistaAccount | None = None
) -> VendistaAccount:
    """Create a Vendista account of ``merchant`` or update ``account``. It needs a login with its
    password (a token is then fetched on first use), or a token. A new login or password drops the
    token of the old login unless a token comes with it."""
    if account is None:
        account = VendistaAccount(merchant=merchant)
    changed = set()
    for name in FIELDS:
        if name in data and getattr(account, name) != data[name]:
            setattr(account, name, data[name])
            changed.add(name)
    if changed & {"login", "password"} and "token" not in changed:
        account.token = ""
    errors: dict[str, list[str]] = {}
    if account.login and not account.password:
        errors["password"] = ["Required with login."]
    if account.password and not account.login:
        errors["login"] = ["Required with password."]
    if not errors and not account.login and not account.token:
        errors["non_field_errors"] = ["Give a login and password, or a token."]
    if not account.name.strip():
        errors["name"] = ["Required."]
    if not 0 < account.rate_per_second <= MAX_RATE_PER_SECOND:
        errors["rate_per_second"] = [f"Must be above 0 and at most {MAX_RATE_PER_SECOND:g}."]
    if account.ca_bundle_path and not account.verify_tls:
        errors["ca_bundle_path"] = ["A CA bundle only applies when verify_tls is on."]
    if errors:
        raise ValidationError(errors)
    account.full_clean(exclude=["merchant", "password", "token"])  # the time zone validator
    if changed & {"login", "password", "token"}:
        account.subscription_status = VendistaAccount.Subscription.UNKNOWN
        account.last_error = ""
    with transaction.atomic():
        account.save()
    return account
