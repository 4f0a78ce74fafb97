"""Owner API: merchant scoping with two merchants (REL-5), validation errors as 4xx JSON (REL-3)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from payments.models import Device, Drink, Order, Payment, Refund
from tests.factories import owner_client

pytestmark = [pytest.mark.django_db]


def _order(device: Device, status: str = "successful") -> Order:
    order = Order.objects.create(
        merchant=device.merchant,
        device=device,
        drink_name="Латте",
        size="small",
        amount=15000,
        status=status,
        expires_at=timezone.now() + timedelta(minutes=5),
    )
    return order


def test_devices_are_scoped_to_the_callers_merchant(shop) -> None:
    mine, _, _merchant = owner_client(shop.merchant)
    theirs, _, other = owner_client()
    other_device = Device.objects.create(merchant=other, code="other-dev", name="Theirs", external_id="o-1")
    codes = {d["code"] for d in mine.get("/api/v1/payments/devices/").json()["results"]}
    assert shop.device.code in codes and "other-dev" not in codes
    assert mine.get(f"/api/v1/payments/devices/{other_device.pk}/").status_code == 404
    assert mine.patch(f"/api/v1/payments/devices/{other_device.pk}/", {"name": "x"}, format="json").status_code == 404
    assert theirs.get(f"/api/v1/payments/devices/{shop.device.pk}/").status_code == 404
    # Creating for someone else's merchant is a validation error, not a leak.
    response = mine.post(
        "/api/v1/payments/devices/",
        {"merchant": other.pk, "code": "sneaky", "name": "x", "external_id": "e"},
        format="json",
    )
    assert response.status_code == 400 and "merchant" in response.json()["error"]["fields"]


def test_device_and_drink_crud_and_validation(shop) -> None:
    client, _, merchant = owner_client(shop.merchant)
    created = client.post(
        "/api/v1/payments/devices/",
        {"merchant": merchant.pk, "code": "new-dev", "name": "New", "channel": "mqtt"},
        format="json",
    )
    assert created.status_code == 201, created.content
    bad = client.post(
        "/api/v1/payments/devices/",
        {"merchant": merchant.pk, "code": "bad code!", "name": "", "channel": "tmetr"},
        format="json",
    )
    assert bad.status_code == 400
    assert {"code", "name"} <= set(bad.json()["error"]["fields"])
    no_price = client.post("/api/v1/payments/drinks/", {"merchant": merchant.pk, "name": "Чай"}, format="json")
    assert no_price.status_code == 400 and "price_small" in no_price.json()["error"]["fields"]
    drink = client.post(
        "/api/v1/payments/drinks/",
        {"merchant": merchant.pk, "name": "Чай", "price_small": 5000, "device": created.json()["id"]},
        format="json",
    )
    assert drink.status_code == 201
    assert (
        client.patch(f"/api/v1/payments/drinks/{drink.json()['id']}/", {"vat_code": 99}, format="json").status_code
        == 400
    )
    assert client.delete(f"/api/v1/payments/drinks/{drink.json()['id']}/").status_code == 204


def test_drink_cannot_point_at_another_merchants_device(shop) -> None:
    client, _, merchant = owner_client(shop.merchant)
    _, _, other = owner_client()
    foreign = Device.objects.create(merchant=other, code="foreign", name="F", external_id="f")
    response = client.post(
        "/api/v1/payments/drinks/",
        {"merchant": merchant.pk, "name": "x", "price_small": 1, "device": foreign.pk},
        format="json",
    )
    assert response.status_code == 400 and "device" in response.json()["error"]["fields"]


def test_viewer_reads_but_cannot_write(shop) -> None:
    viewer, _, _ = owner_client(shop.merchant, role="viewer")
    assert viewer.get("/api/v1/payments/devices/").status_code == 200
    assert viewer.patch(f"/api/v1/payments/devices/{shop.device.pk}/", {"name": "x"}, format="json").status_code == 403


def test_orders_list_filters_and_detail_history(shop) -> None:
    client, _, _ = owner_client(shop.merchant)
    _, _, other = owner_client()
    other_device = Device.objects.create(merchant=other, code="od", name="o", external_id="o")
    ok, failed, foreign = _order(shop.device), _order(shop.device, "failed"), _order(other_device)
    ids = {o["id"] for o in client.get("/api/v1/payments/orders/").json()["results"]}
    assert ids == {str(ok.pk), str(failed.pk)}
    only_failed = client.get("/api/v1/payments/orders/?status=failed").json()["results"]
    assert [o["id"] for o in only_failed] == [str(failed.pk)]
    assert client.get(f"/api/v1/payments/orders/{foreign.pk}/").status_code == 404
    assert client.get("/api/v1/payments/orders/?created_from=not-a-date").status_code == 400
    # Offsets Python accepts and PostgreSQL refuses (found by the schema fuzz) are converted to UTC.
    far = client.get("/api/v1/payments/orders/", {"created_from": "0252-11-30T06:31:18-17:23"})
    assert far.status_code == 200 and {o["id"] for o in far.json()["results"]} == {str(ok.pk), str(failed.pk)}
    late = client.get("/api/v1/payments/orders/", {"created_to": "2000-01-01T00:00:00+23:59"})
    assert late.status_code == 200 and late.json()["results"] == []
    assert client.get("/api/v1/payments/orders/", {"created_to": "0001-01-01T00:00:00+05:00"}).status_code == 400
    detail = client.get(f"/api/v1/payments/orders/{ok.pk}/").json()
    assert {"payment", "brew", "refund", "events"} <= set(detail)


def test_refund_action(shop, sims, django_capture_on_commit_callbacks, eager) -> None:
    client, _, _ = owner_client(shop.merchant)
    order = _order(shop.device)
    sims_payment = sims.yookassa  # a captured one-stage payment at the provider
    from payments.services.orders import order_create

    created = order_create(device=shop.device, drink=shop.drink, size="small").order
    sims_payment.pay(created.payment.provider_payment_id, method="sbp")
    Payment.objects.filter(order=created).update(status="succeeded", settlement="captured")
    assert client.post(f"/api/v1/payments/orders/{order.pk}/refund/", {}, format="json").status_code == 400
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/api/v1/payments/orders/{created.pk}/refund/", {"reason": "cold coffee"}, format="json"
        )
    assert response.status_code == 202, response.content
    assert Refund.objects.get(payment__order=created).status == "succeeded"
    again = client.post(f"/api/v1/payments/orders/{created.pk}/refund/", {}, format="json")
    assert again.status_code == 400 and again.json()["error"]["fields"]
    viewer, _, _ = owner_client(shop.merchant, role="viewer")
    assert viewer.post(f"/api/v1/payments/orders/{created.pk}/refund/", {}, format="json").status_code == 403


def test_unauthenticated_is_rejected(client) -> None:
    assert client.get("/api/v1/payments/orders/").status_code in (401, 403)


def test_drinks_listed_only_for_own_merchant(shop) -> None:
    client, _, _ = owner_client()
    assert Drink.objects.filter(merchant=shop.merchant).exists()
    assert client.get("/api/v1/payments/drinks/").json()["results"] == []


def test_device_health_from_tmetr_heartbeat(shop, sims) -> None:
    client, _, _ = owner_client(shop.merchant)
    data = client.get(f"/api/v1/payments/devices/{shop.device.pk}/health/").json()
    assert data["online"] is True and data["last_seen"] and data["error"] == ""
    mqtt = client.get(f"/api/v1/payments/devices/{shop.mqtt_device.pk}/health/").json()
    assert mqtt["online"] is False and mqtt["last_seen"] is None
    sims.tmetr.faults.error_rate = 1.0
    sims.tmetr.faults.error_status = 401
    down = client.get(f"/api/v1/payments/devices/{shop.device.pk}/health/").json()
    assert down["online"] is False and "401" in down["error"]
