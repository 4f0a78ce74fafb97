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
from poster_sync.models import PosterAccount
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
        SELECT x.merchant_id, x.kind, x.account_id, max(x.error), (array_agg(x.id ORDER BY x.rn))[1]
        FROM (SELECT r.id, r.merchant_id, r.kind, r.account_type_id, r.account_id, r.status,
                     left(r.error, 200) AS error,
                     row_number() OVER (PARTITION BY r.merchant_id, r.kind, r.account_type_id, r.account_id
                                        ORDER BY r.created_at DESC, r.id DESC) AS rn
              FROM core_syncrun r WHERE r.status IN ('succeeded', 'failed') AND r.created_at >= %s) x
        LEFT JOIN alerts_alertsettings s ON s.merchant_id = x.merchant_id
        WHERE x.rn <= COALESCE(s.sync_failures, %s)
        GROUP BY x.merchant_id, x.kind, x.account_type_id, x.account_id, s.sync_failures
        HAVING count(*) FILTER (WHERE x.status IN ('retry', 'failed')) >= GREATEST(COALESCE(s.sync_failures, %s), 1)
        """,
        [timezone.now() - LOOKBACK, DEFAULTS["sync_failures"], DEFAULTS["sync_failures"]],
    )
    for merchant_id, kind, account_id, error, run_id in rows:
        subject = f"{kind} {'' if account_id is None else account_id}".strip()
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
        yield _machine_found(
            merchant_id, device_id, name, "Its last brews all failed: check that it is on and connected."
        )


def _machine_found(merchant_id: int, device_id: int, name: str, detail: str) -> Found:
    """A coffee machine not acknowledging: one subject per machine, whichever check saw it."""
    return Found(
        int(merchant_id),
        Condition.BREW_FAILING,
        f"device {device_id}",
        f"Coffee machine {name} is not acknowledging brews",
        detail,
        f"/admin/payments/device/{device_id}/change/",
    )


def _brew_silent() -> Iterator[Found]:
    """A machine has left a paid brew unacknowledged for the merchant's minutes: its oldest brew not
    done since its last done one is older than that. Catches the lone failure the count above
    misses (one buyer, then nobody for an hour); the same subject, so one alert with either cause."""
    now = timezone.now()
    rows = _rows(
        """
        SELECT o.merchant_id, o.device_id, d.name, min(b.created_at)
        FROM payments_brewcommand b JOIN payments_order o ON o.id = b.order_id
        JOIN payments_device d ON d.id = o.device_id
        LEFT JOIN alerts_alertsettings s ON s.merchant_id = o.merchant_id
        WHERE b.status <> 'done' AND d.is_active AND b.created_at >= %s
          AND b.created_at < %s - make_interval(mins => COALESCE(s.brew_silent_minutes, %s)::int)
          AND NOT EXISTS (SELECT 1 FROM payments_brewcommand b2 JOIN payments_order o2 ON o2.id = b2.order_id
                          WHERE o2.device_id = o.device_id AND b2.status = 'done' AND b2.created_at > b.created_at)
        GROUP BY o.merchant_id, o.device_id, d.name
        """,
        [now - LOOKBACK, now, DEFAULTS["brew_silent_minutes"]],
    )
    for merchant_id, device_id, name, since in rows:
        minutes = int((now - since).total_seconds() // 60)
        detail = f"No brew acknowledged for {minutes} minutes since a buyer paid: check that it is on and connected."
        yield _machine_found(merchant_id, device_id, name, detail)


def _kaspi_relogin() -> Iterator[Found]:
    stores = KaspiStore.objects.filter(is_active=True, session_state=SessionState.NEEDS_RELOGIN)
    for store in stores.only("id", "merchant_id", "name", "session_reason"):
        yield Found(
            store.merchant_id,
            Condition.KASPI_RELOGIN,
            f"kaspi store {store.pk}",
            f"Kaspi store {store.name} needs a re-login",
            store.session_reason[:300],
            f"/admin/kaspi/kaspistore/{store.pk}/change/",
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
        FROM (SELECT a.merchant_id, w.account_id, w.status, left(w.last_error, 200) AS error,
                     row_number() OVER (PARTITION BY w.account_id ORDER BY w.received_at DESC, w.id DESC) AS rn
              FROM poster_sync_webhooklog w JOIN poster_sync_posteraccount a ON a.id = w.account_id
              WHERE w.status IN ('processed', 'ignored', 'retry', 'failed') AND w.received_at >= %s) x
        LEFT JOIN alerts_alertsettings s ON s.merchant_id = x.merchant_id
        WHERE x.rn <= COALESCE(s.sync_failures, %s)
        GROUP BY x.merchant_id, x.account_id, s.sync_failures
        HAVING count(*) FILTER (WHERE x.status IN ('retry', 'failed')) >= GREATEST(COALESCE(s.sync_failures, %s), 1)
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
            f"/admin/poster_sync/webhooklog/?account__id__exact={account_id}",
        )


def _thresholds(name: str, merchant_ids: set[int]) -> dict[int, int]:
    """Each merchant's ``name`` threshold (the default where it has no settings)."""
    found = dict(AlertSettings.objects.filter(merchant_id__in=merchant_ids).values_list("merchant_id", name))
    return {merchant_id: found.get(merchant_id, DEFAULTS[name]) for merchant_id in merchant_ids}


def _price_at_floor() -> Iterator[Found]:
    """Products whose every check for the merchant's hours wanted a price under the floor; one alert
    per store however many products (a market move takes many at once). One grouped query."""
    now = timezone.now()
    rows = _rows(
        """
        SELECT st.merchant_id, st.id, st.name, count(*), min(r.at_floor_since),
               COALESCE(s.floor_hours, %s)
        FROM repricer_repricingrule r JOIN marketplaces_kaspiproduct p ON p.id = r.product_id
        JOIN marketplaces_kaspistore st ON st.id = p.store_id
        LEFT JOIN alerts_alertsettings s ON s.merchant_id = st.merchant_id
        WHERE r.is_active AND r.at_floor_since < %s - make_interval(hours => COALESCE(s.floor_hours, %s)::int)
        GROUP BY st.merchant_id, st.id, st.name, s.floor_hours
        """,
        [DEFAULTS["floor_hours"], now, DEFAULTS["floor_hours"]],
    )
    for merchant_id, store_id, name, count, since, hours in rows:
        held = int((now - since).total_seconds() // 3600)
        yield Found(
            int(merchant_id),
            Condition.PRICE_AT_FLOOR,
            f"kaspi store {store_id} floor",
            f"Kaspi store {name}: prices held at their floor",
            f"{count} product(s) held at the price floor for {hours}+ hours (the longest "
            f"{held} h): competitors sell below it. Lower the floor or accept the position.",
            f"/admin/repricer/repricingrule/?product__store__id__exact={store_id}&last_reason__exact=floor",
        )


def _emag_health() -> Iterator[Found]:
    """An eMAG account's health score (errors, latency, failed syncs, limiter use) under the threshold."""
    from marketplaces.emag.models import EmagAccount
    from marketplaces.emag.services.monitoring import health_get

    accounts = list(EmagAccount.objects.filter(is_active=True).only("id", "merchant_id", "name"))
    minimum = _thresholds("emag_health_min", {a.merchant_id for a in accounts})
    for account in accounts:
        health = health_get(account=account)
        if health["score"] < minimum[account.merchant_id]:
            why = ", ".join(str(a["metric"]) for a in health["alerts"]) or "low score"
            yield Found(
                account.merchant_id,
                Condition.EMAG_HEALTH,
                f"emag account {account.pk} health",
                f"eMAG account {account.name}: health score {health['score']}",
                f"Under {minimum[account.merchant_id]} ({why}); see GET /api/v1/marketplaces/emag/management/health.",
                f"/admin/marketplaces_emag/emagaccount/{account.pk}/change/",
            )


def _poster_reconnect() -> Iterator[Found]:
    accounts = PosterAccount.objects.filter(is_active=True, needs_reconnect=True)
    for account in accounts.only("id", "merchant_id", "account", "last_error"):
        yield Found(
            account.merchant_id,
            Condition.POSTER_RECONNECT,
            f"poster account {account.pk} token",
            f"Poster account {account.account} needs reconnecting",
            account.last_error[:300],
            f"/admin/poster_sync/posteraccount/{account.pk}/change/",
        )


CHECKS = (
    _sync_failing,
    _brew_failing,
    _brew_silent,
    _kaspi_relogin,
    _settlement_stuck,
    _vendista_unpaid,
    _emag_unacknowledged,
    _poster_webhooks_failing,
    _poster_reconnect,
    _price_at_floor,
    _emag_health,
)


def conditions_current() -> dict[Key, Found]:
    found: dict[Key, Found] = {}
    for check in CHECKS:
        for item in check():
            found[item.key] = item
    return found
