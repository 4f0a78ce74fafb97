"""Owner API of SPEC VEN-5: paths, field names, shapes, isolation, validation (REL-3, REL-5)."""

from __future__ import annotations

import csv
import io
from datetime import date

import pytest

from core.models import Membership, SyncRun
from tests.factories import owner_client
from vending.models import DailyRollup, SyncKind, Terminal, VendistaAccount

pytestmark = pytest.mark.django_db


def seed(
    account: VendistaAccount, term_id: int, day: date, gross: int, count: int, refunds: int = 0, refunds_sum: int = 0
) -> None:
    DailyRollup.objects.create(
        account=account,
        term_id=term_id,
        day=day,
        revenue_gross=gross,
        transactions_count=count,
        refunds_count=refunds,
        refunds_sum=refunds_sum,
    )


@pytest.fixture
def two_merchants(make_account):
    client_a, _user_a, merchant_a = owner_client()
    client_b, _user_b, merchant_b = owner_client()
    acc_a = make_account(merchant_a, name="A")
    acc_b = make_account(merchant_b, name="B")
    Terminal.objects.create(account=acc_a, term_id=11, comment="Lobby")
    seed(acc_a, 11, date(2026, 1, 5), 30000, 2, 1, 15000)
    seed(acc_a, 12, date(2026, 1, 5), 10000, 1)
    seed(acc_a, 11, date(2026, 1, 7), 45000, 3)
    seed(acc_b, 11, date(2026, 1, 5), 999999, 99)
    return client_a, client_b, acc_a, acc_b


def test_daily_report_shape_and_numbers(two_merchants) -> None:
    client_a, _, acc_a, _ = two_merchants
    body = client_a.get("/api/v1/vending/reports/daily", {"date_from": "2026-01-05", "date_to": "2026-01-07"}).json()
    assert set(body) >= {"date_from", "date_to", "terminal", "totals", "days", "terminals", "has_data"}
    assert body["totals"] == {
        "revenue_gross": 85000,
        "transactions_count": 6,
        "average_check": 14167,
        "refunds_count": 1,
        "refunds_sum": 15000,
        "revenue_net": 70000,
    }
    assert [d["date"] for d in body["days"]] == ["2026-01-05", "2026-01-06", "2026-01-07"]
    assert body["days"][0] == {
        "date": "2026-01-05",
        "revenue_gross": 40000,
        "transactions_count": 3,
        "average_check": 13333,
        "refunds_count": 1,
        "refunds_sum": 15000,
        "revenue_net": 25000,
    }
    assert body["days"][1]["transactions_count"] == 0
    lobby = next(t for t in body["terminals"] if t["terminal"] == 11)
    assert lobby == {
        "account": acc_a.pk,
        "terminal": 11,
        "name": "Lobby",
        "revenue_gross": 75000,
        "transactions_count": 5,
        "average_check": 15000,
        "refunds_count": 1,
        "refunds_sum": 15000,
        "revenue_net": 60000,
    }


def test_report_terminal_filter_and_owner_isolation(two_merchants) -> None:
    client_a, client_b, acc_a, _acc_b = two_merchants
    params = {"date_from": "2026-01-01", "date_to": "2026-01-31"}
    only_12 = client_a.get("/api/v1/vending/reports/daily", {**params, "terminal": 12}).json()
    assert only_12["totals"]["revenue_gross"] == 10000 and [t["terminal"] for t in only_12["terminals"]] == [12]
    b = client_b.get("/api/v1/vending/reports/daily", params).json()
    assert b["totals"]["revenue_gross"] == 999999  # never A's rows
    foreign = client_b.get("/api/v1/vending/reports/daily", {**params, "account": acc_a.pk}).json()
    assert foreign["totals"]["transactions_count"] == 0 and not foreign["has_data"]


@pytest.mark.parametrize(
    "params, field",
    [
        ({"date_from": "2026-13-01"}, "date_from"),
        ({"date_to": "yesterday"}, "date_to"),
        ({"date_from": "05.01.2026"}, "date_from"),
        ({"terminal": "abc"}, "terminal"),
        ({"terminal": str(10**30)}, "terminal"),
        ({"account": "-1"}, "account"),
        ({"date_from": "2020-01-01", "date_to": "2026-01-01"}, "non_field_errors"),
    ],
)
def test_bad_report_parameters_are_400_with_a_clear_message(two_merchants, params, field) -> None:
    client_a, *_ = two_merchants
    response = client_a.get("/api/v1/vending/reports/daily", params)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"] or "longer than" in error["message"]
    assert field in error["message"] or "longer than" in error["message"]
    if field.startswith("date"):
        assert "YYYY-MM-DD" in error["message"]


def test_reversed_range_is_400(two_merchants) -> None:
    client_a, *_ = two_merchants
    response = client_a.get("/api/v1/vending/reports/daily", {"date_from": "2026-02-01", "date_to": "2026-01-01"})
    assert response.status_code == 400
    assert "date_from must not be after date_to" in response.json()["error"]["message"]


def test_csv_export(two_merchants) -> None:
    client_a, *_ = two_merchants
    response = client_a.get("/api/v1/vending/reports/daily.csv", {"date_from": "2026-01-05", "date_to": "2026-01-07"})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [(r["date"], r["terminal"], r["revenue_gross"]) for r in rows] == [
        ("2026-01-05", "11", "30000"),
        ("2026-01-05", "12", "10000"),
        ("2026-01-07", "11", "45000"),
    ]
    assert client_a.get("/api/v1/vending/reports/daily.csv", {"date_to": "x"}).status_code == 400


def test_endpoints_need_authentication(client) -> None:
    for path in ("/api/v1/vending/reports/daily", "/api/v1/vending/sync/runs", "/api/v1/vending/sync/health"):
        assert client.get(path).status_code in (401, 403)
    assert client.post("/api/v1/vending/sync").status_code in (401, 403)


def test_sync_post_queues_a_run_and_answers_the_ven5_shape(
    two_merchants, django_capture_on_commit_callbacks, monkeypatch
) -> None:
    client_a, client_b, acc_a, _ = two_merchants
    sent: list[int] = []
    monkeypatch.setattr("vending.tasks.sync_run_execute.delay", lambda run_id: sent.append(run_id))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_a.post(
            "/api/v1/vending/sync", {"date_from": "2026-01-01", "date_to": "2026-01-02"}, format="json"
        )
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"ok", "run_id", "transactions_synced", "duration_seconds", "message"}
    assert body["ok"] is True and body["transactions_synced"] == 0 and isinstance(body["duration_seconds"], float)
    run = SyncRun.objects.get(pk=body["run_id"])
    assert sent == [run.pk] and run.mode == "range" and run.account == acc_a
    assert run.params["date_from"] == "2026-01-01T00:00:00" and run.params["date_to"] == "2026-01-02T23:59:59"
    # B cannot sync A's account (404, no existence leak) and sees none of A's runs.
    assert client_b.post("/api/v1/vending/sync", {"account": acc_a.pk}, format="json").status_code == 404
    assert client_b.get("/api/v1/vending/sync/runs").json()["results"] == []
    bad = client_a.post("/api/v1/vending/sync", {"date_from": "01/01/2026"}, format="json")
    assert bad.status_code == 400 and "date_from" in bad.json()["error"]["fields"]


def test_viewer_cannot_start_a_sync(make_account) -> None:
    client, _, merchant = owner_client(role=Membership.Role.VIEWER)
    make_account(merchant)
    assert client.post("/api/v1/vending/sync", {}, format="json").status_code == 403


def test_runs_history_newest_first(make_account) -> None:
    client, _, merchant = owner_client()
    account = make_account(merchant)
    first = SyncRun.objects.create(
        merchant=merchant,
        kind=SyncKind.TRANSACTIONS,
        account=account,
        mode="full",
        status=SyncRun.Status.SUCCEEDED,
        items_done=5,
        items_total=5,
    )
    second = SyncRun.objects.create(
        merchant=merchant,
        kind=SyncKind.TRANSACTIONS,
        account=account,
        mode="incremental",
        status=SyncRun.Status.RUNNING,
        items_done=1,
        items_total=4,
    )
    SyncRun.objects.create(merchant=merchant, kind="poster.ingredients")  # another app's run: not listed
    results = client.get("/api/v1/vending/sync/runs").json()["results"]
    assert [r["id"] for r in results] == [second.pk, first.pk]
    assert results[0]["items_done"] == 1 and results[0]["items_total"] == 4 and results[0]["progress_percent"] == 25.0


def test_health_reports_provider_state(vendista, make_account) -> None:
    sim, _ = vendista(total=10)
    client, _, merchant = owner_client()
    assert client.get("/api/v1/vending/sync/health").json() == {
        "ok": False,
        "status": "no_account",
        "status_code": 0,
        "message": "No Vendista account is configured for your merchant.",
    }
    account = make_account(merchant)
    body = client.get("/api/v1/vending/sync/health").json()
    assert (body["ok"], body["status"], body["status_code"]) == (True, "ok", 200)
    sim.set_unpaid(True)
    body = client.get("/api/v1/vending/sync/health").json()
    assert (body["ok"], body["status"], body["status_code"]) == (False, "subscription_unpaid", 402)
    account.refresh_from_db()
    assert account.subscription_status == "unpaid"
