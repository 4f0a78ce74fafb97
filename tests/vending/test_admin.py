"""Admin: masked secrets, "test connection" and "sync now" (enqueued), the report page (PLAT-11, VEN-4)."""

from __future__ import annotations

from datetime import date

import pytest
from django.urls import reverse

from core.models import SyncRun
from vending.models import DailyRollup

pytestmark = pytest.mark.django_db


def test_account_list_masks_secrets_and_links_the_report(staff_client, make_account) -> None:
    account = make_account(token="tok-fake-0123456789")
    page = staff_client.get(reverse("admin:vending_vendistaaccount_changelist")).content.decode()
    assert "tok-fake-0123456789" not in page and "••••89" in page
    assert reverse("admin:vending_report") in page
    change = staff_client.get(reverse("admin:vending_vendistaaccount_change", args=[account.pk])).content.decode()
    assert "tok-fake-0123456789" not in change and "sandbox-password" not in change


def test_sync_now_enqueues_and_does_not_block(
    staff_client, make_account, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    account = make_account()
    sent: list[int] = []
    monkeypatch.setattr("vending.tasks.sync_run_execute.delay", lambda run_id: sent.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = staff_client.post(
            reverse("admin:vending_vendistaaccount_changelist"),
            {"action": "sync_now", "_selected_action": [account.pk]},
            follow=True,
        )
    run = SyncRun.objects.get()
    assert sent == [run.pk] and run.status == SyncRun.Status.QUEUED
    assert f"#{run.pk}" in response.content.decode()


def test_test_connection_action_reports_the_provider_state(staff_client, make_account, vendista) -> None:
    sim, _ = vendista(total=10)
    account = make_account()
    response = staff_client.post(
        reverse("admin:vending_vendistaaccount_changelist"),
        {"action": "test_connection", "_selected_action": [account.pk]},
        follow=True,
    )
    assert "ok (200)" in response.content.decode()
    sim.set_unpaid(True)
    response = staff_client.post(
        reverse("admin:vending_vendistaaccount_changelist"),
        {"action": "test_connection", "_selected_action": [account.pk]},
        follow=True,
    )
    assert "subscription_unpaid (402)" in response.content.decode()


def test_report_page_shows_notice_when_empty_and_chart_when_seeded(staff_client, make_account) -> None:
    url = reverse("admin:vending_report")
    empty = staff_client.get(url).content.decode()
    assert "No transactions yet — run a sync" in empty and "revenue-chart" not in empty
    account = make_account()
    DailyRollup.objects.create(
        account=account, term_id=5, day=date(2026, 1, 5), revenue_gross=12345, transactions_count=1
    )
    page = staff_client.get(url, {"date_from": "2026-01-01", "date_to": "2026-01-31"}).content.decode()
    assert "revenue-chart" in page and "vending/chartjs/chart.umd.min.js" in page and "123.45" in page
    assert "No transactions yet" not in page
    assert "enter a date" in staff_client.get(url, {"date_from": "nope"}).content.decode()


def test_transactions_admin_is_read_only(staff_client) -> None:
    assert staff_client.get(reverse("admin:vending_transaction_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:vending_transaction_add")).status_code == 403
