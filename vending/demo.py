"""`make run` demo: a Vendista account on the sandbox simulator (no real money, no real data)."""

from __future__ import annotations

from django.urls import reverse

from core.models import Merchant

from .demo_account import DEMO_LOGIN, DEMO_PASSWORD
from .models import VendistaAccount


def demo_setup(*, merchant: Merchant) -> list[str]:
    account, _ = VendistaAccount.objects.get_or_create(
        merchant=merchant,
        name="Vendista sandbox",
        defaults={"login": DEMO_LOGIN, "password": DEMO_PASSWORD, "rate_per_second": 5.0},
    )
    accounts = reverse("admin:vending_vendistaaccount_changelist")
    report = reverse("admin:vending_report")
    return [
        f"Vending (sandbox Vendista): {accounts} → tick “{account.name}” → action “Sync now”, then {report}",
        "Vending API: GET /api/v1/vending/reports/daily, POST /api/v1/vending/sync",
    ]
