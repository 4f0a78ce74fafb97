"""Opening and closing alerts (SPEC OWN-3): once per condition, one message each way.

``alerts_evaluate`` compares what holds now (services.conditions) with the open alerts. A new
condition opens an alert — the partial unique index ``uniq_open_alert`` makes a second opener a
no-op — and queues one "opened" delivery per active channel; a condition gone closes its alert
with a conditional update (0 rows: someone else closed it) and queues one "closed" delivery.
Nothing here is called by the domain flows: they only change their own state, so a slow or
failing channel can never block or slow them.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Alert, AlertChannel, AlertSettings, Delivery
from .conditions import DEFAULTS, Found, conditions_current


def alert_hourly_cap(merchant_id: int) -> int:
    row = AlertSettings.objects.filter(merchant_id=merchant_id).values_list("hourly_cap", flat=True).first()
    return int(row if row is not None else DEFAULTS["hourly_cap"])


def alert_quiet_now(merchant_id: int) -> bool:
    row = AlertSettings.objects.select_related("merchant").filter(merchant_id=merchant_id).first()
    return row is not None and row.is_quiet(timezone.now())


def _absolute(link: str) -> str:
    # Messages are read outside the site (Telegram, mail): a path becomes a link that opens.
    return f"{settings.PUBLIC_BASE_URL.rstrip('/')}{link}" if link.startswith("/") else link


def deliveries_queue(*, alert: Alert, event: str) -> int:
    """One delivery per active channel; past the hourly cap or in quiet hours it is held for a digest."""
    now = timezone.now()
    cap = alert_hourly_cap(alert.merchant_id)
    quiet = alert_quiet_now(alert.merchant_id)
    verb = "Resolved" if event == Delivery.Event.CLOSED else "Needs attention"
    queued = 0
    for channel in AlertChannel.objects.filter(merchant_id=alert.merchant_id, is_active=True):
        recent = Delivery.objects.filter(
            channel=channel,
            created_at__gte=now - timedelta(hours=1),
            status__in=[Delivery.Status.PENDING, Delivery.Status.SENT, Delivery.Status.FAILED],
        ).exclude(event=Delivery.Event.TEST)
        held = quiet or recent.count() >= cap
        Delivery.objects.create(
            channel=channel,
            alert=alert,
            event=event,
            status=Delivery.Status.HELD if held else Delivery.Status.PENDING,
            title=f"{verb}: {alert.title}"[:300],
            body="\n".join(part for part in (alert.detail, _absolute(alert.link)) if part),
            next_attempt_at=now,
        )
        queued += 1
    return queued


def _open(found: Found) -> bool:
    try:
        with transaction.atomic():
            alert = Alert.objects.create(
                merchant_id=found.merchant_id,
                condition=found.condition,
                subject=found.subject,
                title=found.title[:300],
                detail=found.detail,
                link=found.link,
            )
            deliveries_queue(alert=alert, event=Delivery.Event.OPENED)
    except IntegrityError:
        return False  # already open (another evaluator got there first)
    return True


def _close(alert: Alert) -> bool:
    with transaction.atomic():
        if not Alert.objects.filter(pk=alert.pk, closed_at__isnull=True).update(closed_at=timezone.now()):
            return False
        alert.refresh_from_db()
        deliveries_queue(alert=alert, event=Delivery.Event.CLOSED)
    return True


def alerts_evaluate() -> tuple[int, int]:
    """Open alerts for new conditions and close those whose condition cleared: (opened, closed)."""
    current = conditions_current()
    open_alerts = {(a.merchant_id, a.condition, a.subject): a for a in Alert.objects.filter(closed_at__isnull=True)}
    opened = sum(_open(found) for key, found in current.items() if key not in open_alerts)
    closed = sum(_close(alert) for key, alert in open_alerts.items() if key not in current)
    # An open alert's text follows the condition (e.g. "3 payments" → "5 payments"), without a message.
    for key, found in current.items():
        alert = open_alerts.get(key)
        if alert is not None and (alert.detail != found.detail or alert.title != found.title[:300]):
            Alert.objects.filter(pk=alert.pk, closed_at__isnull=True).update(
                detail=found.detail, title=found.title[:300], link=found.link
            )
    return opened, closed
