"""Accounts: the one write (owner API and admin), and which client an account uses: its platform's
base URL, its credentials, its shared limiters."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from core.models import Merchant

from ..clients.emag import EmagClient
from ..models import EmagAccount
from . import monitoring


def emag_account_save(*, merchant: Merchant, data: dict[str, Any], account: EmagAccount | None = None) -> EmagAccount:
    """Create an account, or update ``account``; credentials left out are kept (write-only fields)."""
    if account is None:
        account = EmagAccount(merchant=merchant)
    for name, value in data.items():
        setattr(account, name, value)
    emag_account_check(account=account)
    account.save()
    return account


def emag_account_check(*, account: EmagAccount) -> None:
    """The rules of an account as it would be saved (the admin form runs them before saving): it
    cannot call eMAG without both credentials."""
    errors = {name: [gettext("Required.")] for name in ("api_user", "api_password") if not getattr(account, name)}
    if errors:
        raise ValidationError(errors)


def account_base_url(*, account: EmagAccount) -> str:
    return {
        EmagAccount.Platform.RO: settings.EMAG_API_URL,
        EmagAccount.Platform.BG: settings.EMAG_BG_API_URL,
        EmagAccount.Platform.HU: settings.EMAG_HU_API_URL,
    }[EmagAccount.Platform(account.platform)]


def account_client(*, account: EmagAccount, sleep: Callable[[float], None] = time.sleep) -> EmagClient:
    return EmagClient(
        base_url=account_base_url(account=account),
        username=account.api_user,
        password=account.api_password,
        limiter_ref=account.limiter_ref,
        recorder=monitoring.recorder_for(account_id=account.pk),
        sleep=sleep,
    )
