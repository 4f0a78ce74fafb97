"""Owner API: isolation between merchants, secrets never returned, the 11 management endpoints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import override_settings

from core.models import Membership, SyncRun
from marketplaces.emag.clients.emag import EmagServerError
from marketplaces.emag.models import EmagAccount, EmagBackup, EmagOrder
from marketplaces.emag.services import offers, orders
from tests.factories import owner_client

pytestmark = pytest.mark.django_db
BASE = "/api/v1/marketplaces/emag"
MANAGEMENT_GETS = [
    "health",
    "monitoring/metrics",
    "monitoring/sync-stats",
    "monitoring/product-stats",
    "rate-limiter/stats",
    "backup/list",
    "backup/schedule",
]


@pytest.fixture(autouse=True)
def backup_dir(tmp_path: Path):
    with override_settings(EMAG_BACKUP_DIR=str(tmp_path / "backups")):
        yield


def test_owner_creates_an_account_and_secrets_never_come_back(django_capture_on_commit_callbacks) -> None:
    client, _, merchant = owner_client()
    body = {
        "merchant": merchant.pk,
        "name": "My eMAG",
        "platform": "bg",
        "api_user": "api-user-secret-1",
        "api_password": "pw-secret-XYZ-123",
    }
    created = client.post(f"{BASE}/accounts/", body, format="json")
    assert created.status_code == 201, created.content
    account = EmagAccount.objects.get()
    assert account.api_password == "pw-secret-XYZ-123"
    texts = [
        created.content,
        client.get(f"{BASE}/accounts/").content,
        client.get(f"{BASE}/accounts/{account.pk}/").content,
        client.patch(f"{BASE}/accounts/{account.pk}/", {"name": "Renamed"}, format="json").content,
    ]
    for text in texts:
        assert b"pw-secret-XYZ-123" not in text and b"api-user-secret-1" not in text
    assert created.json()["callback_url"].endswith(f"/webhooks/emag/{account.callback_token}/")
    account.refresh_from_db()
    assert account.name == "Renamed" and account.api_password == "pw-secret-XYZ-123"  # kept


def test_owners_see_and_touch_only_their_own_merchant(emag, make_account) -> None:
    sim = emag(orders=3, offers=2)
    mine_client, _, mine = owner_client()
    theirs_client, _, theirs = owner_client()
    mine_account = make_account(sim, merchant=mine)
    their_account = make_account(sim, merchant=theirs)
    orders.orders_sync(account=their_account)
    offers.offers_sync(account=their_account)
    their_order = EmagOrder.objects.filter(account=their_account).first()

    assert mine_client.get(f"{BASE}/orders/").json()["count"] == 0
    assert theirs_client.get(f"{BASE}/orders/").json()["count"] == 3
    assert mine_client.get(f"{BASE}/orders/{their_order.pk}/").status_code == 404
    assert mine_client.post(f"{BASE}/orders/{their_order.pk}/cancel/", {"reason": 1}, format="json").status_code == 404
    assert mine_client.get(f"{BASE}/accounts/{their_account.pk}/").status_code == 404
    assert mine_client.post(f"{BASE}/accounts/{their_account.pk}/sync/").status_code == 404
    assert [a["id"] for a in mine_client.get(f"{BASE}/accounts/").json()["results"]] == [mine_account.pk]
    assert mine_client.get(f"{BASE}/offers/").json()["count"] == 0
    for path in MANAGEMENT_GETS:
        response = mine_client.get(f"{BASE}/management/{path}", {"account": their_account.pk})
        assert response.status_code == 404, path
    assert (
        mine_client.post(f"{BASE}/management/backup/create", {"account": their_account.pk}, format="json").status_code
        == 404
    )
    assert not SyncRun.objects.filter(merchant=mine).exists()


def test_an_owner_cannot_delete_an_account_only_switch_it_off(emag, make_account) -> None:
    """A DELETE would cascade the account's orders, offers and backups (issue 22): 405, and
    ``is_active: false`` is how an owner stops one."""
    sim = emag(orders=2, offers=1)
    client, _, merchant = owner_client()
    account = make_account(sim, merchant=merchant)
    orders.orders_sync(account=account)
    offers.offers_sync(account=account)

    assert client.delete(f"{BASE}/accounts/{account.pk}/").status_code == 405
    assert EmagAccount.objects.filter(pk=account.pk).exists()
    assert (account.orders.count(), account.offers.count()) == (2, 1)
    switched_off = client.patch(f"{BASE}/accounts/{account.pk}/", {"is_active": False}, format="json")
    assert switched_off.status_code == 200 and switched_off.json()["is_active"] is False
    account.refresh_from_db()
    assert account.is_active is False and account.api_password in sim.users.values()  # credentials kept


def test_an_inactive_account_is_never_picked_for_the_caller(make_account) -> None:
    client, _, merchant = owner_client()
    inactive = make_account(merchant=merchant, is_active=False)
    assert client.get(f"{BASE}/management/health").status_code == 404
    assert client.post(f"{BASE}/management/backup/create", {}, format="json").status_code == 404
    active = make_account(merchant=merchant)
    assert client.get(f"{BASE}/management/health").status_code == 200  # the one active, not "choose one"
    assert client.post(f"{BASE}/management/backup/create", {}, format="json").status_code == 201
    assert list(EmagBackup.objects.values_list("account", flat=True)) == [active.pk]
    # Named by id, an inactive account is still the owner's to read and back up.
    assert client.get(f"{BASE}/management/health", {"account": inactive.pk}).status_code == 200


def test_viewer_cannot_write(make_account) -> None:
    _owner, _, merchant = owner_client()
    viewer, _, _ = owner_client(merchant, role=Membership.Role.VIEWER)
    account = make_account(merchant=merchant)
    assert viewer.get(f"{BASE}/management/health").status_code == 200
    assert viewer.post(f"{BASE}/management/backup/create", {"account": account.pk}, format="json").status_code == 403
    assert viewer.post(f"{BASE}/accounts/{account.pk}/sync/").status_code == 403
    bulk = {"orders": [{"id": 1, "status": 1, "products": []}]}
    assert viewer.post(f"{BASE}/accounts/{account.pk}/orders-bulk-save/", bulk, format="json").status_code == 403


def test_bulk_save_refuses_a_bad_order_with_field_errors_before_any_request(emag, make_account) -> None:
    sim = emag()
    client, _, merchant = owner_client()
    account = make_account(sim, merchant=merchant)
    before = sim.requests_received()
    answer = client.post(
        f"{BASE}/accounts/{account.pk}/orders-bulk-save/",
        {"orders": [{"id": -4, "status": 1, "products": []}]},
        format="json",
    )
    assert answer.status_code == 400 and answer.json()["error"]["fields"], answer.content
    assert sim.requests_received() == before


def test_orders_api_shows_labels_and_unknown_codes(emag, make_account) -> None:
    sim = emag()
    sim.add_order(status=0, cancellation_reason=57)
    client, _, merchant = owner_client()
    account = make_account(sim, merchant=merchant)
    orders.orders_sync(account=account)
    row = client.get(f"{BASE}/orders/").json()["results"][0]
    assert row["cancellation_reason"] == 57 and row["cancellation_reason_label"] == "unknown (57)"
    assert row["status_label"] == "canceled" and row["payment_mode_label"] == "cash on delivery"
    assert row["items"] and "shipping_tax_voucher_split" in row


def test_cancel_with_bad_input_is_a_field_error_and_sends_nothing(emag, make_account) -> None:
    sim = emag(orders=1)
    client, _, merchant = owner_client()
    account = make_account(sim, merchant=merchant)
    orders.orders_sync(account=account)
    order = EmagOrder.objects.get(account=account)
    before = sim.requests_received()
    response = client.post(f"{BASE}/orders/{order.pk}/cancel/", {"reason": "x"}, format="json")
    assert response.status_code == 400 and "reason" in response.json()["error"]["fields"]
    response = client.post(f"{BASE}/orders/{order.pk}/acknowledge/")  # already in progress
    assert response.status_code == 400 and "status" in response.json()["error"]["fields"]
    # In the owner's language (OWN-5): the same refusal in Russian, the field names and code unchanged.
    russian = client.post(f"{BASE}/orders/{order.pk}/acknowledge/", HTTP_ACCEPT_LANGUAGE="ru")
    assert russian.status_code == 400 and "status" in russian.json()["error"]["fields"]
    assert "Подтвердить можно только новый заказ" in str(russian.json()["error"]["fields"]["status"]), russian.json()
    assert sim.requests_received() == before


def test_offer_price_outside_min_max_is_refused_before_sending(emag, make_account) -> None:
    sim = emag(offers=1)
    client, _, merchant = owner_client()
    account = make_account(sim, merchant=merchant)
    offers.offers_sync(account=account)
    offer = account.offers.get()
    before = sim.requests_received()
    response = client.patch(f"{BASE}/offers/{offer.pk}/", {"sale_price": "1000"}, format="json")
    assert response.status_code == 400 and "sale_price" in response.json()["error"]["fields"]
    assert sim.requests_received() == before
    response = client.patch(f"{BASE}/offers/{offer.pk}/", {"sale_price": str(offer.max_sale_price)}, format="json")
    assert response.status_code == 200 and sim.state["offers"][offer.emag_id]["sale_price"] == str(offer.max_sale_price)


def test_all_eleven_management_endpoints(emag, make_account) -> None:
    sim = emag(orders=4, offers=3)
    client, _, merchant = owner_client()
    account = make_account(sim, merchant=merchant)
    orders.orders_sync(account=account)
    offers.offers_sync(account=account)

    health = client.get(f"{BASE}/management/health").json()
    assert 0 <= health["score"] <= 100 and health["status"] == "healthy", health
    metrics = client.get(f"{BASE}/management/monitoring/metrics", {"minutes": 5}).json()
    assert metrics["requests"] >= 6 and metrics["error_rate"] == 0 and metrics["avg_latency_ms"] > 0
    sync = client.get(f"{BASE}/management/monitoring/sync-stats").json()
    assert sync["succeeded"] == 2 and sync["orders"] == 4
    products = client.get(f"{BASE}/management/monitoring/product-stats").json()
    assert products["offers"] == 3 and products["winning_buy_button"] == 1
    limiter = client.get(f"{BASE}/management/rate-limiter/stats").json()
    assert limiter["orders"]["limit_per_second"] == 12 and limiter["other"]["limit_per_second"] == 3
    reset = client.post(f"{BASE}/management/rate-limiter/reset", {}, format="json").json()
    assert reset["orders"]["used_in_window"] == 0
    created = client.post(f"{BASE}/management/backup/create", {}, format="json")
    assert created.status_code == 201 and created.json()["counts"]["orders"] == 4
    listed = client.get(f"{BASE}/management/backup/list").json()["results"]
    assert [b["id"] for b in listed] == [created.json()["id"]]
    restored = client.post(f"{BASE}/management/backup/restore", {"backup": created.json()["id"]}, format="json")
    assert restored.json()["restored"]["orders"]["unchanged"] == 4
    cleanup = client.post(f"{BASE}/management/backup/cleanup", {"retention_days": 30}, format="json").json()
    assert cleanup["deleted"] == 0 and cleanup["kept"] == 1
    schedule = client.post(f"{BASE}/management/backup/schedule", {"retention_days": 7}, format="json").json()
    assert (
        schedule["retention_days"] == 7
        and client.get(f"{BASE}/management/backup/schedule").json()["retention_days"] == 7
    )
    assert b"password" not in json.dumps(health).encode()


def test_health_drops_when_errors_cross_the_threshold(emag, make_account) -> None:
    sim = emag()
    client, _, merchant = owner_client()
    account = make_account(sim, merchant=merchant)
    sim.faults.error_rate, sim.faults.error_status = 1.0, 500
    run = orders.sync_request(account=account, enqueue=False)
    for _ in range(orders.RETRY.max_retries + 1):  # retrying is not failing; the last retry fails it
        assert client.get(f"{BASE}/management/health").json()["sync"]["failed"] == 0
        with override_settings(EMAG_MAX_RETRIES=0), pytest.raises(EmagServerError):
            orders.orders_sync(account=account, run=run)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and run.attempts == orders.RETRY.max_retries
    health = client.get(f"{BASE}/management/health").json()
    assert health["score"] < 50 and {a["metric"] for a in health["alerts"]} >= {"error_rate", "sync_success_rate"}


def test_management_input_errors_are_json_4xx(make_account) -> None:
    client, _, merchant = owner_client()
    make_account(merchant=merchant)
    make_account(merchant=merchant)
    assert client.get(f"{BASE}/management/health").status_code == 400  # two accounts: choose one
    assert client.get(f"{BASE}/management/health", {"account": "abc"}).status_code == 400
    assert client.post(f"{BASE}/management/backup/restore", {"backup": 99}, format="json").status_code == 400
    assert client.get(f"{BASE}/management/monitoring/metrics", {"minutes": "0"}).status_code == 400
