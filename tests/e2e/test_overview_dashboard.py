"""SPEC OWN-2/OWN-4 in real Chromium: the admin home's overview draws its chart and lists what needs
a person; the alert's message is readable on the sandbox inbox page."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time
from typing import Any

import pytest
from django.utils import timezone

from alerts.models import AlertChannel, AlertSettings
from alerts.tasks import alerts_run
from sandbox.alert_inbox import AlertInboxSimulator
from tests.factories import MerchantFactory, UserFactory, VendistaAccountFactory
from tests.overview import helpers
from vending.models import VendistaAccount

pytestmark = pytest.mark.e2e


def test_dashboard_chart_alert_and_sandbox_inbox(
    live_server: Any, page: Any, transactional_db: None, sandbox: Callable[..., Any]
) -> None:
    inbox = sandbox(AlertInboxSimulator())
    merchant = MerchantFactory(name="E2E coffee")
    AlertSettings.objects.create(merchant=merchant, hourly_cap=100)
    AlertChannel.objects.create(merchant=merchant, name="inbox", kind="apprise", secret=f"json://{inbox.url[7:]}/inbox")
    today = datetime.combine(timezone.localdate(), time(1), tzinfo=timezone.get_current_timezone())
    helpers.qr_payment(merchant, amount=31_400, status="succeeded", at=today)
    helpers.vendista_tx(helpers.vendista_account(merchant), sum_minor=12_000, at=today)
    VendistaAccountFactory(
        merchant=merchant, name="Unpaid one", subscription_status=VendistaAccount.Subscription.UNPAID
    )
    alerts_run()  # what the periodic job does

    UserFactory(username="staff-overview", password="pw-e2e-overview-only", is_staff=True, is_superuser=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "staff-overview")
    page.fill("#id_password", "pw-e2e-overview-only")
    page.click("input[type=submit]")
    page.wait_for_selector("#overview-dashboard")
    page.goto(f"{live_server.url}/admin/?merchant={merchant.pk}")  # what picking it in the list does
    assert page.input_value("#overview-merchant") == str(merchant.pk)
    page.wait_for_selector("#overview-chart[data-ready='1']")
    assert errors == []
    table = page.inner_text("#overview-revenue")
    assert "314,00" in table and "120,00" in table  # the ru-RU browser gets Russian number formats (OWN-5)
    assert "Vendista account Unpaid one is unpaid" in page.inner_text("#overview-alerts")
    page.click("#overview-revenue tr[data-channel='qr'] a")
    page.wait_for_selector("#result_list")
    assert "/admin/payments/order/" in page.url

    page.goto(f"{inbox.url}/")
    page.wait_for_selector("#messages .message")
    assert "Needs attention: Vendista account Unpaid one is unpaid" in page.inner_text("#messages")
