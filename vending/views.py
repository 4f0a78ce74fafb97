"""The owner report page in the admin: revenue per day as a chart, totals, per terminal (SPEC VEN-4).

Staff see every merchant (filter by account); the numbers come from the same selector as the API.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.contrib.admin import AdminSite
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone
from django.utils.translation import gettext

from . import selectors
from .models import VendistaAccount


def _parse_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def report_page(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    errors: list[str] = []
    today = timezone.localdate()
    date_to = _parse_date(request.GET.get("date_to"))
    date_from = _parse_date(request.GET.get("date_from"))
    if request.GET.get("date_to") and date_to is None:
        errors.append(gettext("%(field)s: enter a date as YYYY-MM-DD.") % {"field": "date_to"})
    if request.GET.get("date_from") and date_from is None:
        errors.append(gettext("%(field)s: enter a date as YYYY-MM-DD.") % {"field": "date_from"})
    date_to = date_to or today
    date_from = date_from or date_to - timedelta(days=30)
    if date_from > date_to:
        errors.append(gettext("date_from must not be after date_to."))
        date_from = date_to - timedelta(days=30)
    accounts = VendistaAccount.objects.select_related("merchant").all()
    account_id = request.GET.get("account")
    terminal = request.GET.get("terminal")
    flt = selectors.ReportFilter(
        date_from=date_from,
        date_to=date_to,
        terminal=int(terminal) if terminal and terminal.isdigit() else None,
        account=int(account_id) if account_id and account_id.isdigit() else None,
    )
    report = selectors.report_daily(accounts=accounts, flt=flt)
    chart: dict[str, Any] = {
        "labels": [d["date"] for d in report["days"]],
        "revenue": [d["revenue_gross"] / 100 for d in report["days"]],
        "refunds": [d["refunds_sum"] / 100 for d in report["days"]],
    }
    context = {
        **site.each_context(request),
        "title": gettext("Vending report: revenue per day"),
        "report": report,
        "chart": chart,
        "accounts": accounts,
        "flt": flt,
        "errors": errors,
        "has_transactions": report["has_data"],
    }
    return TemplateResponse(request, "admin/vending/report.html", context)
