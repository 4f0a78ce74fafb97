"""`make run` demo: a Poster account on the sandbox simulator, synced once at start (no real data)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.urls import reverse

from core.logging import untrusted
from core.models import Merchant

from .demo_account import SANDBOX_ACCOUNT, SANDBOX_TOKEN
from .models import PosterAccount
from .services.sync import sync_request

log = logging.getLogger(__name__)


def demo_setup(*, merchant: Merchant) -> list[str]:
    if "{account}" in settings.POSTER_ACCOUNT_API_URL:
        return []  # pointed at the real Poster: no sandbox account to add
    account, _ = PosterAccount.objects.get_or_create(
        account=SANDBOX_ACCOUNT,
        defaults={"merchant": merchant, "access_token": SANDBOX_TOKEN, "account_number": "100001"},
    )
    try:  # queued now, run by the worker as soon as it starts
        sync_request(account=account, force=True, manual=False)
    except Exception as exc:  # the broker may not be up yet: the daily job or "sync now" will do it
        log.warning("demo Poster sync not queued: %s", untrusted(str(exc), 200))
    sandbox = settings.POSTER_ACCOUNT_API_URL.rsplit("/api", 1)[0]
    return [
        f"Poster (sandbox): {reverse('admin:poster_sync_ingredient_changelist')} — change an ingredient at "
        f"{sandbox}/_sandbox/poster/ and reload: the signed webhook updates it within a second",
        f"Poster: accounts {reverse('admin:poster_sync_posteraccount_changelist')} (“Sync now”), webhook log "
        f"{reverse('admin:poster_sync_webhooklog_changelist')}, API GET/POST /api/v1/poster/sync, "
        "OAuth connect /poster/oauth/authorize/",
    ]
