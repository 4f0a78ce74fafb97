"""Which conditions hold right now, read from each domain's own state (SPEC OWN-3).

Each check is one set-based query over every merchant and yields ``Found`` rows keyed by
``(merchant_id, condition, subject)``. The subject is what makes an alert *one*: a storm of
1,000 failed runs of the same sync is one subject, so one alert (its detail says how many).
Thresholds come from ``AlertSettings`` (defaults while a merchant has none).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from marketplaces.kaspi.models import KaspiStore, SessionState
from payments.models import Payment
from vending.models import VendistaAccount

from ..models import AlertSettings, Condition

# Only recent history is read, so the check stays cheap however long the tables grow.
LOOKBACK = timedelta(days=7)
DEFAULTS = {f.name: f.default for f in AlertSettings._meta.get_fields() if hasattr(f, "default")}

Key = tuple[int, str, str]


@dataclass(frozen=True)
class Found:
    merchant_id: int
    condition: str
    subject: str
    title: str
    detail: str = ""
    link: str = ""

    @property
    def key(self) -> Key:
        return (self.merchant_id, self.condition, self.subject)


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return list(cursor.fetchall())


def _sync_failing() -> Iterator[Found]:
    """The last N finished runs of one sync (merchant, kind, account) all failed."""
    rows = _rows(
        """
        SELECT x.merchant_id, x.kind, x.account_ref, max(x.error), (array_agg(x.id ORDER BY x.rn))[1]
        FROM (SELECT r.id, r.merchant_id, r.kind, r.account_ref, r.status, left(r.error, 200) AS error,
                     row_number() OVER (PARTITION BY r.merchant_id, r.kind, r.account_ref
                                        ORDER BY r.created_at DESC, r.id DESC) AS rn
              FROM core_syncrun r WHERE r.status IN ('succeeded', 'failed') AND r.created_at >= %s) x
        LEFT JOIN alerts_alertsettings s ON s.merchant_id = x.merchant_id
        WHERE x.rn <= COALESCE(s.sync_failures, %s)
        GROUP BY x.merchant_id, x.kind, x.account_ref, s.sync_failures
        HAVING count(*) FILTER (WHERE x.status = 'failed') >= GREATEST(COALESCE(s.sync_failures, %s), 1)
        """,
        [timezone.now() - LOOKBACK, DEFAULTS["sync_failures"], DEFAULTS["sync_failures"]],
    )
    for merchant_id, kind, account_ref, error, run_id in rows:
        subject = f"{kind} {account_ref}".strip()
        yield Found(
            int(merchant_id),
            Condition.SYNC_FAILING,
            subject,
            f"Sync {subject} keeps failing",
            f"Last error: {error}" if error else "",
            f"/admin/core/syncrun/{run_id}/change/",
        )


def _brew_failing() -> Iterator[Found]:
    """The last N finished brew commands of one coffee machine all failed (no acknowledgement)."""
    rows = _rows(
        """
        SELECT x.merchant_id, x.device_id, x.device_name
        FROM (SELECT o.merchant_id, o.device_id, d.name AS device_name, b.status,
                     row_number() OVER (PARTITION BY o.device_id ORDER BY b.created_at DESC, b.id DESC) AS rn
              FROM payments_brewcommand b JOIN payments_order o ON o.id = b.order_id
              JOIN payments_device d ON d.id = o.device_id
              WHERE b.status IN ('done', 'failed') AND b.created_at >= %s) x
        LEFT JOIN alerts_alertsettings s ON s.merchant_id = x.merchant_id
        WHERE x.rn <= COALESCE(s.brew_failures, %s)
        GROUP BY x.merchant_id, x.device_id, x.device_name, s.brew_failures
        HAVING count(*) FILTER (WHERE x.status = 'failed') >= GREATEST(COALESCE(s.brew_failures, %s), 1)
        """,
        [timezone.now() - LOOKBACK, DEFAULTS["brew_failures"], DEFAULTS["brew_failures"]],
    )
    for merchant_id, device_id, name in rows:
        yield Found(
            int(merchant_id),
            Condition.BREW_FAILING,
            f"device {device_id}",
            f"Coffee machine {name} is not acknowledging brews",
            "Its last brews all failed: check that it is on and connected.",
            f"/admin/payments/device/{device_id}/change/",
        )


def _kaspi_relogin() -> Iterator[Found]:
    stores = KaspiStore.objects.filter(is_active=True, session_state=SessionState.NEEDS_RELOGIN)
    for store in stores.only("id", "merchant_id", "name", "session_reason"):
        yield Found(
            store.merchant_id,
            Condition.KASPI_RELOGIN,
            f"kaspi store {store.pk}",
            f"Kaspi store {store.name} needs a re-login",
            store.session_reason[:300],
            f"/admin/marketplaces/kaspistore/{store.pk}/change/",
        )


def _settlement_stuck() -> Iterator[Found]:
    """Money the sweep could not return to a buyer; one alert per merchant however many."""
    stuck = Payment.objects.filter(settlement=Payment.Settlement.RETURN_FAILED)
    counts: dict[int, int] = {}
    for merchant_id in stuck.values_list("order__merchant_id", flat=True):
        counts[merchant_id] = counts.get(merchant_id, 0) + 1
    for merchant_id, count in counts.items():
        yield Found(
            merchant_id,
            Condition.SETTLEMENT_STUCK,
            "return_failed",
            "A refund to a buyer could not be finished",
            f"{count} payment(s) in 'return failed': retry them from the admin.",
            "/admin/payments/payment/?settlement__exact=return_failed",
        )


def _vendista_unpaid() -> Iterator[Found]:
    accounts = VendistaAccount.objects.filter(is_active=True, subscription_status=VendistaAccount.Subscription.UNPAID)
    for account in accounts.only("id", "merchant_id", "name"):
        yield Found(
            account.merchant_id,
            Condition.VENDISTA_UNPAID,
            f"vendista account {account.pk}",
            f"Vendista account {account.name} is unpaid (402)",
            "Vendista answers 402: pay the subscription; syncing resumes by itself.",
            f"/admin/vending/vendistaaccount/{account.pk}/change/",
        )


def _emag_unacknowledged() -> Iterator[Found]:
    """New eMAG orders still not acknowledged after the merchant's minutes; one alert per account."""
    rows = _rows(
        """
        SELECT a.merchant_id, a.id, a.name, count(*)
        FROM marketplaces_emag_emagorder o JOIN marketplaces_emag_emagaccount a ON a.id = o.account_id
        LEFT JOIN alerts_alertsettings s ON s.merchant_id = a.merchant_id
        WHERE o.status = 1 AND o.acknowledged_at IS NULL AND a.is_active
          AND o.first_seen_at < %s - make_interval(mins => COALESCE(s.emag_ack_minutes, %s)::int)
          AND o.first_seen_at >= %s
        GROUP BY a.merchant_id, a.id, a.name
        """,
        [timezone.now(), DEFAULTS["emag_ack_minutes"], timezone.now() - LOOKBACK],
    )
    for merchant_id, account_id, name, count in rows:
        yield Found(
            int(merchant_id),
            Condition.EMAG_UNACKNOWLEDGED,
            f"emag account {account_id}",
            f"eMAG account {name}: new orders not acknowledged",
            f"{count} new order(s) waiting for their acknowledgement.",
            f"/admin/marketplaces_emag/emagorder/?account__id__exact={account_id}&status__exact=1",
        )


def _poster_webhooks_failing() -> Iterator[Found]:
    """The last N authentic webhooks of one Poster account all failed to process."""
    rows = _rows(
        """
        SELECT x.merchant_id, x.account_id, max(x.error)
        FROM (SELECT a.merchant_id, w.account_id, w.status, left(w.error, 200) AS error,
                     row_number() OVER (PARTITION BY w.account_id ORDER BY w.received_at DESC, w.id DESC) AS rn
              FROM poster_sync_webhooklog w JOIN poster_sync_posteraccount a ON a.id = w.account_id
              WHERE w.status IN ('processed', 'ignored', 'failed') AND w.received_at >= %s) x
        LEFT JOIN alerts_alertsettings s ON s.merchant_id = x.merchant_id
        WHERE x.rn <= COALESCE(s.sync_failures, %s)
        GROUP BY x.merchant_id, x.account_id, s.sync_failures
        HAVING count(*) FILTER (WHERE x.status = 'failed') >= GREATEST(COALESCE(s.sync_failures, %s), 1)
        """,
        [timezone.now() - LOOKBACK, DEFAULTS["sync_failures"], DEFAULTS["sync_failures"]],
    )
    for merchant_id, account_id, error in rows:
        yield Found(
            int(merchant_id),
            Condition.POSTER_WEBHOOKS_FAILING,
            f"poster account {account_id}",
            "Poster webhooks keep failing",
            f"Last error: {error}" if error else "",
            f"/admin/poster_sync/webhooklog/?account__id__exact={account_id}&status__exact=failed",
        )


CHECKS = (
    _sync_failing,
    _brew_failing,
    _kaspi_relogin,
    _settlement_stuck,
    _vendista_unpaid,
    _emag_unacknowledged,
    _poster_webhooks_failing,
)


def conditions_current() -> dict[Key, Found]:
    found: dict[Key, Found] = {}
    for check in CHECKS:
        for item in check():
            found[item.key] = item
    return found
