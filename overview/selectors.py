"""Reads of the owner overview (SPEC OWN-1): the rollup only, never the raw channel rows."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet, Sum

from core.selectors import merchants_for_user

from .models import Kind, RevenueDay


@dataclass
class Figure:
    count: int = 0
    amount: Decimal = Decimal(0)

    def add(self, count: int, amount: Decimal) -> None:
        self.count += count
        self.amount += amount


@dataclass
class RevenueLine:
    """One (day, channel, currency): every kind side by side, and net = sales − returns."""

    day: date
    channel: str
    currency: str
    kinds: dict[str, Figure] = field(default_factory=lambda: {k.value: Figure() for k in Kind})

    @property
    def net(self) -> Decimal:
        return self.kinds[Kind.SALE].amount - self.kinds[Kind.RETURN].amount


def revenue_days(
    *, merchant_ids: QuerySet[Any] | list[int], date_from: date, date_to: date, channel: str | None = None
) -> QuerySet[RevenueDay]:
    qs = RevenueDay.objects.filter(merchant_id__in=merchant_ids, day__gte=date_from, day__lte=date_to)
    if channel:
        qs = qs.filter(channel=channel)
    return qs


def revenue_lines(
    *, merchant_ids: QuerySet[Any] | list[int], date_from: date, date_to: date, channel: str | None = None
) -> tuple[list[RevenueLine], dict[str, dict[str, Figure]]]:
    """Per day/channel/currency lines (oldest first) and totals per currency and kind (never converted)."""
    rows = (
        revenue_days(merchant_ids=merchant_ids, date_from=date_from, date_to=date_to, channel=channel)
        .values("day", "channel", "currency", "kind")
        .annotate(count=Sum("count"), amount=Sum("amount"))
        .order_by("day", "channel", "currency", "kind")
    )
    lines: dict[tuple[date, str, str], RevenueLine] = {}
    totals: dict[str, dict[str, Figure]] = defaultdict(lambda: {k.value: Figure() for k in Kind})
    for row in rows:
        if not row["count"] and not row["amount"]:
            continue
        key = (row["day"], row["channel"], row["currency"])
        line = lines.get(key) or lines.setdefault(key, RevenueLine(*key))
        line.kinds[row["kind"]].add(int(row["count"]), row["amount"])
        totals[row["currency"]][row["kind"]].add(int(row["count"]), row["amount"])
    return list(lines.values()), dict(totals)


def revenue_for_user(
    *, user: Any, date_from: date, date_to: date, merchant_id: int | None = None, channel: str | None = None
) -> tuple[list[RevenueLine], dict[str, dict[str, Figure]]]:
    merchants = merchants_for_user(user=user)
    if merchant_id is not None:
        merchants = merchants.filter(pk=merchant_id)
    return revenue_lines(
        merchant_ids=list(merchants.values_list("pk", flat=True)), date_from=date_from, date_to=date_to, channel=channel
    )


@dataclass
class ChannelPeriods:
    channel: str
    currency: str
    today: Figure
    week: Figure
    month: Figure
    # Net per day for the last 30 days, oldest first (the dashboard's chart).
    series: list[Decimal]


def dashboard_periods(*, merchant_id: int, today: date) -> list[ChannelPeriods]:
    """Today / 7 days / 30 days of net revenue per channel and currency, with a 30-day series."""
    start = today - timedelta(days=29)
    lines, _ = revenue_lines(merchant_ids=[merchant_id], date_from=start, date_to=today)
    out: dict[tuple[str, str], ChannelPeriods] = {}
    for line in lines:
        key = (line.channel, line.currency)
        cp = out.get(key) or out.setdefault(key, ChannelPeriods(*key, Figure(), Figure(), Figure(), [Decimal(0)] * 30))
        sale = line.kinds[Kind.SALE]
        returns = line.kinds[Kind.RETURN]
        net = sale.amount - returns.amount
        cp.series[(line.day - start).days] += net
        for period, days in ((cp.month, 30), (cp.week, 7), (cp.today, 1)):
            if (today - line.day).days < days:
                period.add(sale.count, net)
    return sorted(out.values(), key=lambda c: (c.channel, c.currency))


def channel_list_links(*, merchant_id: int) -> dict[str, str]:
    """The admin list each channel's figures come from, filtered to the merchant (OWN-2)."""
    from marketplaces.emag.models import EmagAccount
    from marketplaces.kaspi.models import KaspiStore
    from vending.models import VendistaAccount

    def ids(qs: QuerySet[Any]) -> str:
        return ",".join(str(pk) for pk in qs.filter(merchant_id=merchant_id).values_list("pk", flat=True)) or "0"

    return {
        "qr": f"/admin/payments/order/?merchant__id__exact={merchant_id}",
        "vendista": f"/admin/vending/transaction/?account__id__in={ids(VendistaAccount.objects.all())}",
        "kaspi": f"/admin/kaspi/kaspiorder/?store__id__in={ids(KaspiStore.objects.all())}",
        "emag": f"/admin/marketplaces_emag/emagorder/?account__id__in={ids(EmagAccount.objects.all())}",
    }
