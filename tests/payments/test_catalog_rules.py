"""Device and drink rules hold on both edges, the API and the admin (one service: payments.services.catalog)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from payments.models import Device, Drink
from tests.factories import DeviceFactory, MerchantFactory, OrderFactory, UserFactory, owner_client

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def _device_form(merchant, **changes: object) -> dict[str, object]:
    return {
        "merchant": merchant.pk,
        "code": "lobby-1",
        "name": "Lobby",
        "location": "",
        "channel": "tmetr",
        "external_id": "tm-1",
        "provider": "yookassa",
        "ack_timeout_seconds": "",
        "is_active": "on",
        **changes,
    }


def _drink_form(merchant, **changes: object) -> dict[str, object]:
    return {
        "merchant": merchant.pk,
        "device": "",
        "name": "Latte",
        "external_id": "3",
        "price_small": "",
        "price_medium": "",
        "price_big": "",
        "vat_code": 1,
        "is_active": "on",
        **changes,
    }


def test_a_tmetr_device_needs_its_id_on_both_edges(admin_client: Client) -> None:
    merchant = MerchantFactory()
    page = admin_client.post(reverse("admin:payments_device_add"), _device_form(merchant, external_id=""))
    assert page.status_code == 200 and "Required for Tmetr devices." in page.content.decode()
    client, _, mine = owner_client()
    response = client.post(
        "/api/v1/payments/devices/",
        {"merchant": mine.pk, "code": "x-1", "name": "X", "channel": "tmetr", "external_id": ""},
        format="json",
    )
    assert response.status_code == 400 and "external_id" in response.json()["error"]["fields"]
    assert not Device.objects.exists()


def test_a_device_never_moves_to_another_merchant_in_the_admin(admin_client: Client) -> None:
    device = DeviceFactory()
    other = MerchantFactory()
    page = admin_client.post(
        reverse("admin:payments_device_change", args=[device.pk]),
        _device_form(other, code=device.code, external_id=device.external_id),
    )
    assert "cannot move to another merchant" in page.content.decode()
    device.refresh_from_db()
    assert device.merchant_id != other.pk


def test_drink_rules_in_the_admin(admin_client: Client) -> None:
    merchant = MerchantFactory()
    url = reverse("admin:payments_drink_add")
    assert "at least one size" in admin_client.post(url, _drink_form(merchant)).content.decode()
    assert "1..10" in admin_client.post(url, _drink_form(merchant, price_small=100, vat_code=11)).content.decode()
    foreign = DeviceFactory()
    page = admin_client.post(url, _drink_form(merchant, price_small=100, device=foreign.pk)).content.decode()
    assert "belongs to another merchant" in page
    assert not Drink.objects.filter(name="Latte").exists()
    assert admin_client.post(url, _drink_form(merchant, price_small=100)).status_code == 302
    assert Drink.objects.filter(name="Latte", merchant=merchant).exists()


def test_a_device_with_orders_is_not_deleted_by_the_api() -> None:
    order = OrderFactory()
    client, _, _ = owner_client(order.merchant)
    response = client.delete(f"/api/v1/payments/devices/{order.device_id}/")
    assert response.status_code == 400 and "deactivate" in str(response.json())
    assert Device.objects.filter(pk=order.device_id).exists()
