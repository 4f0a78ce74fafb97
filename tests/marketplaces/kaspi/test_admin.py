"""Staff admin of Kaspi: write-only secrets, the failed-login screenshot, "sync now", "log in now", "accept"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from django.urls import reverse

from core.models import SyncRun
from core.selectors import sync_runs_of
from marketplaces.kaspi.models import KaspiOrder, KaspiStore, Preorder, SessionState
from marketplaces.kaspi.services import orders as orders_service
from marketplaces.kaspi.services.session import session_needs_relogin
from sandbox.kaspi import SANDBOX_PASSWORD, SANDBOX_SHOP_TOKEN


def test_store_pages_never_show_secrets_and_show_the_screenshot(
    staff_client: Any, make_store: Any, settings: Any, tmp_path: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    store = make_store()
    session_needs_relogin(store=store, reason="SMS code required", screenshot=b"\x89PNG\r\n\x1a\nshot")
    listing = staff_client.get(reverse("admin:kaspi_kaspistore_changelist")).content.decode()
    change = staff_client.get(reverse("admin:kaspi_kaspistore_change", args=[store.pk])).content.decode()
    for page in (listing, change):
        assert SANDBOX_PASSWORD not in page and SANDBOX_SHOP_TOKEN not in page
    assert "Needs re-login" in listing and "SMS code required" in change
    shot_url = reverse("admin:kaspi_kaspistore_screenshot", args=[store.pk])
    assert shot_url in change
    shot = staff_client.get(shot_url)
    assert shot.status_code == 200 and b"".join(shot.streaming_content).startswith(b"\x89PNG")
    filtered = staff_client.get(reverse("admin:kaspi_kaspistore_changelist"), {"session_state__exact": "ok"})
    assert filtered.status_code == 200 and filtered.context["cl"].result_count == 0


def test_saving_a_store_with_blank_secrets_keeps_them_and_new_credentials_unpark_it(
    staff_client: Any, make_store: Any
) -> None:
    store = make_store(session_state=SessionState.NEEDS_RELOGIN)
    url = reverse("admin:kaspi_kaspistore_change", args=[store.pk])
    data = {
        "merchant": store.merchant_id,
        "name": "Renamed",
        "merchant_uid": store.merchant_uid,
        "shop_api_token": "",
        "cabinet_email": "",
        "cabinet_password": "",
        "is_active": "on",
    }
    assert staff_client.post(url, data).status_code == 302
    store.refresh_from_db()
    assert (store.name, store.shop_api_token, store.cabinet_password) == (
        "Renamed",
        SANDBOX_SHOP_TOKEN,
        SANDBOX_PASSWORD,
    )
    assert store.session_state == SessionState.NEEDS_RELOGIN
    staff_client.post(url, {**data, "cabinet_password": "a-new-password"})
    store.refresh_from_db()
    assert store.cabinet_password == "a-new-password" and store.session_state == SessionState.EXPIRED


def test_sync_now_and_log_in_now_actions_enqueue(
    staff_client: Any, make_store: Any, monkeypatch: Any, django_capture_on_commit_callbacks: Any
) -> None:
    store = make_store()
    sent: list[Any] = []
    for name in ("products_sync_execute", "orders_sync_execute", "session_login_execute"):
        monkeypatch.setattr(
            f"marketplaces.kaspi.tasks.{name}.delay", lambda *args, name=name: sent.append((name, args))
        )
    url = reverse("admin:kaspi_kaspistore_changelist")
    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(url, {"action": "sync_now", "_selected_action": [store.pk]}, follow=True)
        staff_client.post(url, {"action": "log_in_now", "_selected_action": [store.pk]}, follow=True)
    assert {name for name, _ in sent} == {"products_sync_execute", "orders_sync_execute", "session_login_execute"}
    assert ("session_login_execute", (store.pk, True)) in sent
    assert sync_runs_of(store).filter(status="queued").count() == 2


def test_accept_action_and_read_only_lists(staff_client: Any, make_store: Any, kaspi: Callable[..., Any]) -> None:
    sim = kaspi(orders=12, days=5)
    store = make_store()
    run = SyncRun.objects.create(
        merchant=store.merchant,
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
    response = staff_client.post(
        reverse("admin:kaspi_kaspiorder_changelist"),
        {"action": "accept", "_selected_action": [order.pk]},
        follow=True,
    )
    assert "accepted" in response.content.decode()
    assert KaspiOrder.objects.get(pk=order.pk).status == "ACCEPTED_BY_MERCHANT" and sim.state["accepted"] == 1
    detail = staff_client.get(reverse("admin:kaspi_kaspiorder_change", args=[order.pk]))
    assert detail.status_code == 200 and order.code in detail.content.decode()
    for name in ("kaspiproduct", "kaspiorder", "preorder"):
        assert staff_client.get(reverse(f"admin:kaspi_{name}_changelist"), {"q": "x"}).status_code == 200
    Preorder.objects.create(store=store, article="A-1", name="Preordered", price=100)
    assert "Preordered" in staff_client.get(reverse("admin:kaspi_preorder_changelist")).content.decode()
    assert KaspiStore.objects.get(pk=store.pk).last_orders_sync_at is not None


def test_retyping_the_same_cabinet_password_keeps_a_parked_store_parked(staff_client: Any, make_store: Any) -> None:
    """The admin saves through stores.store_save: only a changed e-mail or password unparks a store."""
    store = make_store(session_state=SessionState.NEEDS_RELOGIN)
    url = reverse("admin:kaspi_kaspistore_change", args=[store.pk])
    data = {"merchant": store.merchant_id, "name": store.name, "merchant_uid": store.merchant_uid, "is_active": "on",
            "shop_api_token": "", "cabinet_email": "", "cabinet_password": SANDBOX_PASSWORD}  # fmt: skip
    assert staff_client.post(url, data).status_code == 302
    store.refresh_from_db()
    assert store.session_state == SessionState.NEEDS_RELOGIN


def test_a_preorder_priced_below_ten_tenge_is_a_form_error_in_the_admin(staff_client: Any, make_store: Any) -> None:
    store = make_store()
    data = {"store": store.pk, "article": "ART-5", "name": "Kettle", "brand": "", "price": 5, "warehouses": "[]",
            "delivery_days": 30, "status": Preorder.Status.DRAFT}  # fmt: skip
    response = staff_client.post(reverse("admin:kaspi_preorder_add"), data)
    assert response.status_code == 200 and "at least 10" in response.content.decode()
    assert not Preorder.objects.exists()
    assert staff_client.post(reverse("admin:kaspi_preorder_add"), {**data, "price": 10}).status_code == 302
    assert Preorder.objects.get().price == 10
