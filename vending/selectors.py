"""Reads of the vending app; owners only ever see their merchants' rows (SPEC VEN-4, VEN-5, PLAT-4).

The report reads ``DailyRollup`` only (≈ terminals × days rows), never the raw transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, QuerySet, Sum

from core.models import SyncRun
from core.selectors import merchants_for_user, scope_to_user

from .models import DailyRollup, SyncKind, Terminal, VendistaAccount

METRICS = ("revenue_gross", "transactions_count", "refunds_count", "refunds_sum")


def accounts_for_user(*, user: Any, write: bool = False) -> QuerySet[VendistaAccount]:
    if write:
        return VendistaAccount.objects.filter(merchant__in=merchants_for_user(user=user, write=True).values("pk"))
    return scope_to_user(VendistaAccount.objects.all(), user=user)


def sync_runs_for_user(*, user: Any) -> QuerySet[SyncRun]:
    return scope_to_user(SyncRun.objects.filter(kind=SyncKind.TRANSACTIONS), user=user).order_by("-created_at", "-id")


@dataclass(frozen=True)
class ReportFilter:
    date_from: date
    date_to: date
    terminal: int | None = None
    account: int | None = None


def _metrics(values: Mapping[str, Any]) -> dict[str, int]:
    gross = int(values.get("revenue_gross") or 0)
    count = int(values.get("transactions_count") or 0)
    refunds_sum = int(values.get("refunds_sum") or 0)
    return {
        "revenue_gross": gross,
        "transactions_count": count,
        "average_check": round(gross / count) if count else 0,
        "refunds_count": int(values.get("refunds_count") or 0),
        "refunds_sum": refunds_sum,
        "revenue_net": gross - refunds_sum,
    }


def _sums() -> dict[str, Any]:
    return {name: Sum(name) for name in METRICS}


def rollups_for_accounts(*, accounts: QuerySet[VendistaAccount], flt: ReportFilter) -> QuerySet[DailyRollup]:
    qs = DailyRollup.objects.filter(account__in=accounts.values("pk"), day__gte=flt.date_from, day__lte=flt.date_to)
    if flt.terminal is not None:
        qs = qs.filter(term_id=flt.terminal)
    if flt.account is not None:
        qs = qs.filter(account_id=flt.account)
    return qs


def report_daily(*, accounts: QuerySet[VendistaAccount], flt: ReportFilter) -> dict[str, Any]:
    """Revenue, count, average check and refunds per day and per terminal for a date range (VEN-4)."""
    qs = rollups_for_accounts(accounts=accounts, flt=flt)
    by_day = {row["day"]: row for row in qs.values("day").annotate(**_sums()).order_by()}
    days = []
    current = flt.date_from
    while current <= flt.date_to:  # every day of the range, zeros included, so charts have no gaps
        days.append({"date": current.isoformat(), **_metrics(by_day.get(current, {}))})
        current += timedelta(days=1)
    per_terminal = list(qs.values("account_id", "term_id").annotate(**_sums()).order_by("account_id", "term_id"))
    names = {
        (t["account_id"], t["term_id"]): t["comment"]
        for t in Terminal.objects.filter(
            account__in=accounts.values("pk"), term_id__in=[r["term_id"] for r in per_terminal]
        ).values("account_id", "term_id", "comment")
    }
    terminals = [
        {
            "account": r["account_id"],
            "terminal": r["term_id"],
            "name": names.get((r["account_id"], r["term_id"]), ""),
            **_metrics(r),
        }
        for r in per_terminal
    ]
    totals = _metrics(qs.aggregate(**_sums()))
    return {
        "date_from": flt.date_from.isoformat(),
        "date_to": flt.date_to.isoformat(),
        "terminal": flt.terminal,
        "account": flt.account,
        "amounts_in": "minor units (kopecks)",
        "has_data": bool(by_day),
        "totals": totals,
        "days": days,
        "terminals": terminals,
    }


def report_daily_rows(*, accounts: QuerySet[VendistaAccount], flt: ReportFilter) -> list[dict[str, Any]]:
    """One row per (day, account, terminal) for the CSV export."""
    qs = rollups_for_accounts(accounts=accounts, flt=flt)
    rows = (
        qs.values("day", "account_id", "term_id")
        .annotate(**_sums(), n=Count("id"))
        .order_by("day", "account_id", "term_id")
    )
    return [
        {"date": r["day"].isoformat(), "account": r["account_id"], "terminal": r["term_id"], **_metrics(r)}
        for r in rows
    ]
