"""The owner report page in real Chromium: a Chart.js chart for seeded data, the notice when empty."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from tests.factories import MerchantFactory, UserFactory
from vending.models import DailyRollup, VendistaAccount

pytestmark = pytest.mark.e2e


def login(page: Any, live_server: Any) -> None:
    UserFactory(username="staff-vending", password="pw-e2e-vending-only", is_staff=True, is_superuser=True)
    page.goto(f"{live_server.url}/admin/login/")
    page.fill("#id_username", "staff-vending")
    page.fill("#id_password", "pw-e2e-vending-only")
    page.click("input[type=submit]")
    page.wait_for_selector("#site-name")


def test_report_page_draws_the_revenue_chart(live_server: Any, page: Any, transactional_db: None) -> None:
    account = VendistaAccount.objects.create(merchant=MerchantFactory(), name="e2e")
    start = date(2026, 1, 1)
    for n in range(10):
        DailyRollup.objects.create(
            account=account,
            term_id=1 + n % 2,
            day=start + timedelta(days=n),
            revenue_gross=10000 * (n + 1),
            transactions_count=n + 1,
            refunds_count=n % 3,
            refunds_sum=500 * (n % 3),
        )
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    login(page, live_server)
    page.goto(f"{live_server.url}/admin/vending/vendistaaccount/report/?date_from=2026-01-01&date_to=2026-01-10")
    page.wait_for_selector("#revenue-chart[data-rendered='1']")
    assert errors == []
    labels = page.evaluate("window.vendingChart.data.labels")
    values = page.evaluate("window.vendingChart.data.datasets[0].data")
    assert labels[0] == "2026-01-01" and len(labels) == 10
    assert values == [100.0 * (n + 1) for n in range(10)]
    box = page.locator("#revenue-chart").bounding_box()
    assert box["width"] > 100 and box["height"] > 100
    # The canvas really has pixels drawn on it (not a blank element).
    painted = page.evaluate("""() => {
        const c = document.getElementById('revenue-chart');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) { if (d[i] > 0) n++; } return n; }""")
    assert painted > 500
    assert "5 500.00 ₽" in page.inner_text("#totals")  # 10000 × (1+…+10) / 100


def test_report_page_says_run_a_sync_when_empty(live_server: Any, page: Any, transactional_db: None) -> None:
    login(page, live_server)
    page.goto(f"{live_server.url}/admin/vending/vendistaaccount/report/")
    assert "Транзакций пока нет — запустите синхронизацию" in page.inner_text("#no-transactions")  # ru-RU browser
    assert page.locator("#revenue-chart").count() == 0
