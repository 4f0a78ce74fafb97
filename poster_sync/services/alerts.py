"""Sync status per (account, entity) and the e-mail to staff when syncs keep failing (SPEC POS-3, POS-4)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db.models import F
from django.utils import timezone

from core.logging import untrusted

from ..models import PosterAccount, SyncStatus

log = logging.getLogger(__name__)


def _status(account: PosterAccount, entity: str) -> SyncStatus:
    status, _ = SyncStatus.objects.get_or_create(account=account, entity=entity)
    return status


def status_sync_succeeded(*, account: PosterAccount, entity: str, items: int) -> None:
    """A full sync of ``entity`` finished: it is fresh now, and any failure streak is over."""
    now = timezone.now()
    _status(account, entity)
    SyncStatus.objects.filter(account=account, entity=entity).update(
        last_sync_at=now,
        last_success_at=now,
        sync_count=F("sync_count") + 1,
        items_count=items,
        last_error="",
        consecutive_failures=0,
        alerted_at=None,
    )


def status_object_succeeded(*, account: PosterAccount, entity: str) -> None:
    """A webhook's single-object sync worked: the failure streak is over (freshness is unchanged)."""
    SyncStatus.objects.filter(account=account, entity=entity).exclude(consecutive_failures=0).update(
        consecutive_failures=0, alerted_at=None
    )


def status_failed(*, account: PosterAccount, entity: str, error: str, full_sync: bool = True) -> bool:
    """Record a failed sync (full or single-object); e-mail staff once per failure streak. True if mailed."""
    _status(account, entity)
    changes: dict[str, object] = {"last_error": error[:2000], "consecutive_failures": F("consecutive_failures") + 1}
    if full_sync:
        changes.update(last_sync_at=timezone.now(), sync_count=F("sync_count") + 1)
    SyncStatus.objects.filter(account=account, entity=entity).update(**changes)
    threshold = settings.POSTER_ALERT_AFTER_FAILURES
    # The conditional update claims the alert: of concurrent failures exactly one sends it.
    claimed = SyncStatus.objects.filter(
        account=account, entity=entity, alerted_at__isnull=True, consecutive_failures__gte=threshold
    ).update(alerted_at=timezone.now())
    if not claimed:
        return False
    status = SyncStatus.objects.get(account=account, entity=entity)
    return alert_staff(account=account, entity=entity, failures=status.consecutive_failures, error=error)


def alert_staff(*, account: PosterAccount, entity: str, failures: int, error: str) -> bool:
    recipients = list(
        get_user_model().objects.filter(is_staff=True, is_active=True).exclude(email="").values_list("email", flat=True)
    )
    if not recipients:
        log.error("Poster %s %s failed %d times; no staff e-mail to alert", untrusted(str(account)), entity, failures)
        return False
    subject = f"[merchant-ops] Poster sync of {entity} failing for {account.account}"
    body = (
        f"The Poster sync of {entity} for account {account.account} (merchant {account.merchant_id}) "
        f"has failed {failures} times in a row.\n\nLast error: {error[:1000]}\n\n"
        "See the Poster sync statuses and webhook logs in the admin. You will get no further e-mail "
        "about this until a sync succeeds again."
    )
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, recipients, fail_silently=True)
    log.warning("Poster %s %s: staff alerted after %d failures", untrusted(str(account)), entity, failures)
    return True
