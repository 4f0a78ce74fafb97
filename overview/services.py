"""Writes of the overview: only the rebuild (the rollup is otherwise kept by triggers)."""

from __future__ import annotations

from django.db import connection, transaction

from . import revenue_sql


@transaction.atomic
def revenue_rebuild(*, merchant_id: int | None = None, time_zone: str | None = None) -> None:
    """Recount the rollup (one merchant, or all) from the channel tables, e.g. after a TIME_ZONE change.

    With ``time_zone`` the day function is re-created first (every merchant is then recounted).
    """
    with connection.cursor() as cursor:
        if time_zone is not None:
            cursor.execute(revenue_sql.day_function_sql(time_zone))
            merchant_id = None
        for sql, params in revenue_sql.rebuild_sql(merchant_id=merchant_id):
            cursor.execute(sql, params)
