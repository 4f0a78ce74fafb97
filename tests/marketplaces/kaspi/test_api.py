"""Owner API under /api/v1/marketplaces/kaspi/: merchant isolation, write-only secrets, actions."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from unittest import mock

import pytest

from core.models import Membership, SyncRun
from core.selectors import sync_runs_of
from marketplaces.kaspi import tasks
from marketplaces.kaspi.models import KaspiOrder, KaspiProduct, KaspiStore, Preorder, SessionState
from marketplaces.kaspi.services import orders as orders_service
from tests.factories import owner_client

BASE = "/api/v1/marketplaces/kaspi"
SECRETS = {
    "shop_api_token": "tok-very-secret-123",
    "cabinet_email": "owner@shop.kz",
    "cabinet_password": "pw-very-secret-456",
}


def test_secrets_are_write_only_and_never_logged(caplog: Any, db: None) -> None:
    caplog.set_level(logging.DEBUG)
    client, _, merchant = owner_client()
    created = client.post(f"{BASE}/stores/", {"merchant": merchant.pk, "name": "Shop", **SECRETS}, format="json")
    assert created.status_code == 201, created.content
    store_id = created.json()["id"]
    listed = client.get(f"{BASE}/stores/")
    detail = client.get(f"{BASE}/stores/{store_id}/")
    for response in (created, listed, detail):
        for secret in SECRETS.values():
            assert secret not in response.content.decode()
    body = detail.json()
    assert body["has_shop_api_token"] is True and body["has_cabinet_login"] is True
    assert body["session_state"] == SessionState.EXPIRED
    # A blank secret on update keeps the stored one.
    client.patch(f"{BASE}/stores/{store_id}/", {"name": "Shop 2", "shop_api_token": ""}, format="json")
    store = KaspiStore.objects.get(pk=store_id)
    assert (store.name, store.shop_api_token) == ("Shop 2", SECRETS["shop_api_token"])
    for secret in SECRETS.values():
        assert secret not in caplog.text


def test_another_merchants_stores_products_orders_and_preorders_are_invisible(make_store: Any) -> None:
    client_a, _, merchant_a = owner_client()
    client_b, _, merchant_b = owner_client()
    store_a = make_store(merchant=merchant_a, merchant_uid="1")
    store_b = make_store(merchant=merchant_b, merchant_uid="2")
    KaspiProduct.objects.create(store=store_b, sku="B-1", name="B product")
    order_b = KaspiOrder.objects.create(
        store=store_b, kaspi_id="77", code="777", state="NEW", creation_date=datetime.now(UTC)
    )
    pre_b = Preorder.objects.create(store=store_b, article="B-1", name="B", price=1000)

    assert [s["id"] for s in client_a.get(f"{BASE}/stores/").json()["results"]] == [store_a.pk]
    assert client_a.get(f"{BASE}/products/").json()["results"] == []
    assert client_a.get(f"{BASE}/orders/").json()["results"] == []
    assert client_a.get(f"{BASE}/preorders/").json()["results"] == []
    for path in (f"stores/{store_b.pk}/", f"orders/{order_b.pk}/", f"preorders/{pre_b.pk}/"):
        response = client_a.get(f"{BASE}/{path}")
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    for path in (f"stores/{store_b.pk}/sync/", f"stores/{store_b.pk}/login/", f"orders/{order_b.pk}/accept/"):
        assert client_a.post(f"{BASE}/{path}").status_code == 404
    # Nor can a preorder or a store be created under someone else's merchant or store.
    assert (
        client_a.post(
            f"{BASE}/preorders/", {"store": store_b.pk, "article": "X", "name": "X", "price": 100}, format="json"
        ).status_code
        == 400
    )
    assert client_a.post(f"{BASE}/stores/", {"merchant": merchant_b.pk, "name": "X"}, format="json").status_code == 400
    assert client_b.get(f"{BASE}/products/").json()["count"] == 1


def test_viewers_read_but_cannot_act(make_store: Any) -> None:
    client, _, merchant = owner_client(role=Membership.Role.VIEWER)
    store = make_store(merchant=merchant)
    assert client.get(f"{BASE}/stores/{store.pk}/").status_code == 200
    assert client.post(f"{BASE}/stores/{store.pk}/sync/").status_code == 403
    assert client.post(f"{BASE}/stores/{store.pk}/login/").status_code == 403


def test_sync_now_queues_a_products_and_an_orders_run_on_the_sync_queue(
    make_store: Any, django_capture_on_commit_callbacks: Any
) -> None:
    client, _, merchant = owner_client()
    store = make_store(merchant=merchant)
    with (
        mock.patch.object(tasks.products_sync_execute, "delay") as products_delay,
        mock.patch.object(tasks.orders_sync_execute, "delay") as orders_delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(f"{BASE}/stores/{store.pk}/sync/")
    assert response.status_code == 202
    runs = response.json()["runs"]
    assert {r["kind"] for r in runs} == {"kaspi.products", "kaspi.orders"}
    assert all(r["status"] == "queued" for r in runs)
    products_delay.assert_called_once()
    orders_delay.assert_called_once()
    assert tasks.products_sync_execute.queue == tasks.orders_sync_execute.queue == "sync"
    run = SyncRun.objects.get(kind="kaspi.orders")
    assert datetime.fromisoformat(run.params["date_to"]) - datetime.fromisoformat(run.params["date_from"]) <= timedelta(
        days=15
    )


def test_log_in_now_queues_a_forced_login(make_store: Any, django_capture_on_commit_callbacks: Any) -> None:
    client, _, merchant = owner_client()
    store = make_store(merchant=merchant, session_state=SessionState.NEEDS_RELOGIN)
    with (
        mock.patch.object(tasks.session_login_execute, "delay") as delay,
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = client.post(f"{BASE}/stores/{store.pk}/login/")
    assert response.status_code == 202
    delay.assert_called_once_with(store.pk, True)


def test_accept_through_the_api(kaspi: Callable[..., Any], make_store: Any) -> None:
    sim = kaspi(orders=12, days=5)
    client, _, merchant = owner_client()
    store = make_store(merchant=merchant)
    run = SyncRun.objects.create(
        merchant=merchant,
        kind="kaspi.orders",
        account=store,
        params={
            "date_from": (datetime.now(UTC) - timedelta(days=6)).isoformat(),
            "date_to": datetime.now(UTC).isoformat(),
        },
    )
    orders_service.orders_sync(run=run)
    order = KaspiOrder.objects.filter(store=store, state="NEW").first()
    assert order is not None

    response = client.post(f"{BASE}/orders/{order.pk}/accept/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "ACCEPTED_BY_MERCHANT" and response.json()["entries"]
    assert sim.state["accepted"] == 1
    archived = KaspiOrder.objects.filter(store=store, state="ARCHIVE").first()
    refused = client.post(f"{BASE}/orders/{archived.pk}/accept/")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "kaspi_refused"
    sim.faults.update({"error_rate": 1.0, "error_status": 503})
    other = KaspiOrder.objects.filter(store=store, state="SIGN_REQUIRED").first()
    down = client.post(f"{BASE}/orders/{other.pk}/accept/")
    assert down.status_code == 502 and down.json()["error"]["code"] == "kaspi_unavailable"


def test_preorders_crud_with_defaults_and_validation(make_store: Any) -> None:
    client, _, merchant = owner_client()
    store = make_store(merchant=merchant)
    product = KaspiProduct.objects.create(store=store, sku="ART-1", name="Coffee")
    created = client.post(
        f"{BASE}/preorders/",
        {
            "store": store.pk,
            "article": "ART-1",
            "name": "Coffee",
            "brand": "Lavazza",
            "price": 9900,
            "warehouses": [{"storeId": "1_PP1", "available": True}],
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["delivery_days"] == 30 and body["status"] == "draft" and body["product"] == product.pk
    bad = client.post(
        f"{BASE}/preorders/",
        {"store": store.pk, "article": "ART-2", "name": "X", "price": 5, "warehouses": "nope"},
        format="json",
    )
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) >= {"price", "warehouses"}
    duplicate = client.post(
        f"{BASE}/preorders/", {"store": store.pk, "article": "ART-1", "name": "X", "price": 50}, format="json"
    )
    assert duplicate.status_code == 400 and "article" in duplicate.json()["error"]["fields"]
    updated = client.patch(f"{BASE}/preorders/{body['id']}/", {"status": "active", "delivery_days": 14}, format="json")
    assert updated.status_code == 200 and updated.json()["status"] == "active"
    assert client.delete(f"{BASE}/preorders/{body['id']}/").status_code == 204


def test_the_screenshot_of_a_failed_login_is_served_to_the_owner_only(
    make_store: Any, settings: Any, tmp_path: Any
) -> None:
    from marketplaces.kaspi.services.session import session_needs_relogin

    settings.MEDIA_ROOT = str(tmp_path)
    client, _, merchant = owner_client()
    other, _, _ = owner_client()
    store = make_store(merchant=merchant)
    assert client.get(f"{BASE}/stores/{store.pk}/screenshot/").status_code == 404
    session_needs_relogin(store=store, reason="wrong e-mail or password", screenshot=b"\x89PNG\r\n\x1a\nfake")
    response = client.get(f"{BASE}/stores/{store.pk}/screenshot/")
    assert response.status_code == 200 and response["Content-Type"] == "image/png"
    assert b"".join(response.streaming_content).startswith(b"\x89PNG")
    assert other.get(f"{BASE}/stores/{store.pk}/screenshot/").status_code == 404
    detail = client.get(f"{BASE}/stores/{store.pk}/").json()
    assert detail["session_state"] == "needs_relogin" and detail["has_screenshot"] is True
    assert json.dumps(detail).count("wrong e-mail") == 1


@pytest.mark.parametrize(
    "query", ["store=99999999999999999999999", "store=abc", "state=%00", "ordering=nope", "page=999", "is_active=maybe"]
)
def test_bad_filters_are_4xx_never_500(make_store: Any, query: str) -> None:
    client, _, merchant = owner_client()
    make_store(merchant=merchant)
    for path in ("stores", "products", "orders", "preorders"):
        response = client.get(f"{BASE}/{path}/?{query}")
        assert response.status_code < 500, (path, query, response.status_code)
        if response.status_code >= 400:
            assert "error" in response.json()


def test_out_of_range_ids_are_404(db: None) -> None:
    client, _, _ = owner_client()
    for path in (
        "stores/99999999999999999999/",
        "orders/99999999999999999999/accept/",
        "preorders/99999999999999999999/",
    ):
        response = client.post(f"{BASE}/{path}") if "accept" in path else client.get(f"{BASE}/{path}")
        assert response.status_code == 404, (path, response.status_code)


def test_sync_now_without_any_credentials_is_a_clear_400(make_store: Any) -> None:
    client, _, merchant = owner_client()
    store = make_store(merchant=merchant, shop_api_token="", cabinet_email="", cabinet_password="")
    response = client.post(f"{BASE}/stores/{store.pk}/sync/")
    assert response.status_code == 400 and "Shop API token" in response.json()["error"]["message"]
    assert not sync_runs_of(store).exists()


def test_an_owner_cannot_delete_a_store_only_switch_it_off(make_store: Any) -> None:
    """A DELETE would cascade the store's products, orders and preorders (issue 22): 405, and
    ``is_active: false`` is how an owner stops one."""
    client, _, merchant = owner_client()
    store = make_store(merchant=merchant)
    KaspiProduct.objects.create(store=store, sku="A-1", name="A product")
    KaspiOrder.objects.create(store=store, kaspi_id="71", code="771", state="NEW", creation_date=datetime.now(UTC))
    Preorder.objects.create(store=store, article="A-1", name="A", price=1000)

    assert client.delete(f"{BASE}/stores/{store.pk}/").status_code == 405
    assert KaspiStore.objects.filter(pk=store.pk).exists()
    assert (store.products.count(), store.orders.count(), store.preorders.count()) == (1, 1, 1)
    switched_off = client.patch(f"{BASE}/stores/{store.pk}/", {"is_active": False}, format="json")
    assert switched_off.status_code == 200 and switched_off.json()["is_active"] is False
    store.refresh_from_db()
    assert store.is_active is False and store.shop_api_token  # the secrets are kept
