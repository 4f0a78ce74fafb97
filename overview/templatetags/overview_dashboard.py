"""The staff dashboard on the admin home page (SPEC OWN-2): ``{% overview_dashboard %}``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from alerts.selectors import alerts_open
from core.models import Merchant

from ..selectors import channel_list_links, dashboard_periods

register = template.Library()

CHANNEL_NAMES = {"qr": _("QR coffee"), "vendista": "Vendista", "kaspi": "Kaspi", "emag": "eMAG"}


@register.inclusion_tag("admin/overview/dashboard.html", takes_context=True)
def overview_dashboard(context: dict[str, Any]) -> dict[str, Any]:
    request = context["request"]
    merchants = list(Merchant.objects.order_by("name", "id").only("id", "name"))
    if not merchants:
        return {"merchants": []}
    wanted = request.GET.get("merchant", "")
    merchant = next((m for m in merchants if str(m.pk) == wanted), merchants[0])
    today = timezone.localdate()
    periods = dashboard_periods(merchant_id=merchant.pk, today=today)
    links = channel_list_links(merchant_id=merchant.pk)
    rows: list[dict[str, Any]] = [
        {"name": str(CHANNEL_NAMES.get(p.channel, p.channel)), "link": links.get(p.channel, ""), "p": p}
        for p in periods
    ]
    chart = {
        "labels": [(today - timedelta(days=29 - i)).strftime("%d.%m") for i in range(30)],
        "datasets": [
            {"label": f"{r['name']} ({r['p'].currency})", "data": [float(v) for v in r["p"].series]} for r in rows
        ],
    }
    return {
        "merchants": merchants,
        "merchant": merchant,
        "rows": rows,
        "chart": chart,
        "alerts": list(alerts_open(merchant_id=merchant.pk)[:50]),
        "today": today,
    }
