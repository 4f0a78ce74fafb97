"""Daily rollups (VEN-4): rebuilt set-based, inside PostgreSQL, for the local days a sync touched."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.db import connection, transaction
from django.db.models import Count, Q, Sum
from django.db.models.functions import Abs, Coalesce, TruncDate

from ..models import DailyRollup, Transaction, VendistaAccount

ROLLUP_INSERT = (
    "INSERT INTO vending_dailyrollup (account_id, term_id, day, revenue_gross, transactions_count, refunds_count,"
    " refunds_sum, updated_at) SELECT %s, agg.*, now() FROM ({aggregate}) AS agg"
)


def rollups_rebuild(*, account: VendistaAccount, days: Iterable[date]) -> int:
    """Recompute the daily rollups of ``days`` (local dates) from the raw rows, set-based (VEN-4)."""
    wanted = sorted(set(days))
    if not wanted:
        return 0
    zone = account.zone
    start = datetime.combine(wanted[0], time.min, tzinfo=zone)
    end = datetime.combine(wanted[-1] + timedelta(days=1), time.min, tzinfo=zone)
    contiguous = (wanted[-1] - wanted[0]).days + 1 == len(wanted)
    qs = Transaction.objects.filter(account=account, time__gte=start, time__lt=end).annotate(
        day=TruncDate("time", tzinfo=zone)
    )
    if not contiguous:
        qs = qs.filter(day__in=wanted)
    aggregated = (
        qs.values("term_id", "day")
        .annotate(
            revenue_gross=Coalesce(Sum("sum_minor", filter=Q(is_refund=False)), 0),
            transactions_count=Count("id", filter=Q(is_refund=False)),
            refunds_count=Count("id", filter=Q(is_refund=True)),
            refunds_sum=Coalesce(Sum(Abs("sum_minor"), filter=Q(is_refund=True)), 0),
        )
        .order_by()
    )
    with transaction.atomic():
        stale = DailyRollup.objects.filter(account=account, day__gte=wanted[0], day__lte=wanted[-1])
        if not contiguous:
            stale = stale.filter(day__in=wanted)
        stale._raw_delete(stale.db)  # no cascades or signals hang off rollups
        # The same aggregate, written by the database itself: no rows travel through Python.
        sql, params = aggregated.values_list(
            "term_id",
            "day",
            "revenue_gross",
            "transactions_count",
            "refunds_count",
            "refunds_sum",
        ).query.sql_with_params()
        insert = ROLLUP_INSERT.replace("{aggregate}", sql)
        with connection.cursor() as cursor:
            cursor.execute(insert, [account.pk, *params])  # the inner SQL is compiled by the ORM
            return cursor.rowcount
