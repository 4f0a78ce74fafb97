"""Which client an account uses: its platform's base URL, its credentials, its shared limiters."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings

from ..clients.emag import EmagClient
from ..models import EmagAccount
from . import monitoring


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
