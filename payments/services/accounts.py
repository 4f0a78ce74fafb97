"""Connecting a merchant's payment and Tmetr accounts without a shell (issue 9, SPEC PAY-1, PAY-6).

Owner API and admin both write through here. Secrets are write-only: a value given replaces the
stored one, an omitted one is kept, and nothing here ever returns a secret. Errors are Django
``ValidationError``s keyed by field (the API answers 400).
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils.translation import gettext

from core.models import Merchant

from ..models import PaymentAccount, TmetrAccount

PAYMENT_FIELDS = ("yookassa_shop_id", "yookassa_secret_key", "tbank_terminal_key", "tbank_password",
                  "issues_receipts", "two_stage")  # fmt: skip
TMETR_FIELDS = ("username", "password", "access_token", "refresh_token")  # refresh_token: the admin only


def _apply(instance: Any, data: dict[str, Any], fields: tuple[str, ...]) -> set[str]:
    changed = set()
    for name in fields:
        if name in data and getattr(instance, name) != data[name]:
            setattr(instance, name, data[name])
            changed.add(name)
    return changed


def _pair(errors: dict[str, list[str]], account: Any, id_field: str, secret_field: str, label: str) -> None:
    identifier, secret = getattr(account, id_field), getattr(account, secret_field)
    if identifier and not secret:
        errors.setdefault(secret_field, []).append(
            gettext("Required with %(field)s (%(provider)s).") % {"field": id_field, "provider": label}
        )
    if secret and not identifier:
        errors.setdefault(id_field, []).append(
            gettext("Required with %(field)s (%(provider)s).") % {"field": secret_field, "provider": label}
        )


def payment_account_save(
    *, merchant: Merchant, data: dict[str, Any], account: PaymentAccount | None = None
) -> PaymentAccount:
    """Create the merchant's one payment account, or update ``account``. At least one provider
    (YooKassa shop id + secret key, or T-Bank terminal key + password) must be complete."""
    creating = account is None
    if account is None:
        account = PaymentAccount(merchant=merchant)
    _apply(account, data, PAYMENT_FIELDS)
    payment_account_check(account=account)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        if creating:  # the one-to-one: a concurrent or repeated create
            raise ValidationError(
                {"merchant": [gettext("This merchant already has a payment account; update it.")]}
            ) from None
        raise
    return account


def payment_account_check(*, account: PaymentAccount) -> None:
    """The rules of an account as it would be saved (the admin form runs them before saving)."""
    errors: dict[str, list[str]] = {}
    _pair(errors, account, "yookassa_shop_id", "yookassa_secret_key", "YooKassa")
    _pair(errors, account, "tbank_terminal_key", "tbank_password", "T-Bank")
    if not errors and not (account.yookassa_shop_id or account.tbank_terminal_key):
        errors["non_field_errors"] = [gettext("Give the credentials of YooKassa, T-Bank or both.")]
    if errors:
        raise ValidationError(errors)


def tmetr_account_save(
    *, merchant: Merchant, data: dict[str, Any], account: TmetrAccount | None = None
) -> TmetrAccount:
    """Create or update the merchant's Tmetr login. Either a username with its password (tokens are
    then fetched on first use) or a pasted access token. A new username or password drops the tokens
    issued for the old login, so the next call logs in with the new one."""
    creating = account is None
    if account is None:
        account = TmetrAccount(merchant=merchant)
    changed = _apply(account, data, TMETR_FIELDS)
    if changed & {"username", "password"} and not changed & {"access_token", "refresh_token"}:
        account.access_token = ""
        account.access_expires_at = None
        account.refresh_token = ""
        account.refresh_expires_at = None
    if "access_token" in changed:
        account.access_expires_at = None  # a pasted token: lifetime unknown until Tmetr rejects it
    if "refresh_token" in changed:  # pasted by staff in the admin: the same
        account.refresh_expires_at = None
    tmetr_account_check(account=account)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        if creating:
            raise ValidationError(
                {"merchant": [gettext("This merchant already has a Tmetr account; update it.")]}
            ) from None
        raise
    return account


def tmetr_account_check(*, account: TmetrAccount) -> None:
    """The rules of a login as it would be saved (the admin form runs them before saving)."""
    errors: dict[str, list[str]] = {}
    _pair(errors, account, "username", "password", "Tmetr login")
    if not errors and not account.username and not account.access_token:
        errors["non_field_errors"] = [gettext("Give a username and password, or an access token.")]
    if errors:
        raise ValidationError(errors)
