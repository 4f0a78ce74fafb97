"""`make run` demo: an eMAG account on the sandbox simulator (no real marketplace, no real orders)."""

from __future__ import annotations

from django.urls import reverse

from core.models import Merchant

from .demo_account import SANDBOX_PASSWORD, SANDBOX_USER
from .models import EmagAccount


def demo_setup(*, merchant: Merchant) -> list[str]:
    account = EmagAccount.objects.filter(merchant=merchant, name="eMAG sandbox").first()
    if account is None:
        account = EmagAccount.objects.create(
            merchant=merchant, name="eMAG sandbox", platform="ro", api_user=SANDBOX_USER, api_password=SANDBOX_PASSWORD
        )
    accounts = reverse("admin:marketplaces_emag_emagaccount_changelist")
    orders = reverse("admin:marketplaces_emag_emagorder_changelist")
    return [
        f"eMAG (sandbox): {accounts} → tick “{account.name}” → action “Sync now”, then {orders}",
        "eMAG API: GET /api/v1/marketplaces/emag/orders/, GET /api/v1/marketplaces/emag/management/health",
    ]
