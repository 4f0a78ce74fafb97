"""One machine per address (SPEC PLAT-15, issue 21): a device's external id (else its code) names its
MQTT topics and the legacy QR's deviceUuid, so it is unique across every merchant."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.test import Client
from django.urls import reverse

from payments.models import Device, Order
from payments.services import catalog
from tests.factories import DeviceFactory, MerchantFactory, UserFactory, owner_client
from tests.support.migrations import latest_nodes
from tests.support.migrations import migrate_to as _migrate


def _post_device(client, merchant, **fields: object):
    body = {"merchant": merchant.pk, "name": "Machine", "channel": "mqtt", **fields}
    return client.post("/api/v1/payments/devices/", body, format="json")


def _admin_form() -> dict[str, object]:
    """The admin's add form for a machine at the address another device already has (tm-42)."""
    return {
        "merchant": MerchantFactory().pk,
        "code": "new-one",
        "name": "New",
        "location": "",
        "channel": "mqtt",
        "external_id": "tm-42",
        "provider": "yookassa",
        "ack_timeout_seconds": "",
        "is_active": "on",
    }


@pytest.mark.django_db
def test_the_api_refuses_an_address_another_merchants_device_has() -> None:
    theirs = DeviceFactory(code="lobby", external_id="tm-42")
    client, _, mine = owner_client()
    cases = [
        ({"code": "mine-1", "external_id": "tm-42"}, "external_id"),  # same external id
        ({"code": "mine-2", "external_id": "lobby"}, "external_id"),  # an id equal to their code
        ({"code": "tm-42", "external_id": ""}, "code"),  # our address (the code) is their id
        ({"code": "tm-42", "external_id": "mine-3"}, "code"),  # a code equal to their id
    ]
    for fields, field in cases:
        response = _post_device(client, mine, **fields)
        assert response.status_code == 400, (fields, response.content)
        assert field in response.json()["error"]["fields"], (fields, response.json())
    assert list(Device.objects.values_list("pk", flat=True)) == [theirs.pk]
    # An update is checked the same way; its own address is not a clash.
    created = _post_device(client, mine, code="mine-4", external_id="mq-4")
    assert created.status_code == 201, created.content
    url = f"/api/v1/payments/devices/{created.json()['id']}/"
    assert client.patch(url, {"name": "Renamed"}, format="json").status_code == 200
    clash = client.patch(url, {"external_id": "tm-42"}, format="json")
    assert clash.status_code == 400 and "external_id" in clash.json()["error"]["fields"]
    assert Device.objects.get(code="mine-4").external_id == "mq-4"


@pytest.mark.django_db
def test_two_saves_racing_for_one_address_end_in_a_400_not_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    """Both passed the check before either committed: the database refuses the second."""
    DeviceFactory(code="lobby", external_id="tm-42")
    monkeypatch.setattr(catalog, "device_address_check", lambda **kwargs: None)  # the other save is not visible yet
    client, _, mine = owner_client()
    response = _post_device(client, mine, code="mine-1", external_id="tm-42")
    assert response.status_code == 400, response.content
    assert "external_id" in response.json()["error"]["fields"]
    assert Device.objects.count() == 1


@pytest.mark.django_db
def test_the_admin_names_the_field_of_a_clashing_address(client: Client) -> None:
    DeviceFactory(code="lobby", external_id="tm-42")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    form = _admin_form()
    page = client.post(reverse("admin:payments_device_add"), form)
    assert page.status_code == 200
    errors = page.context["adminform"].form.errors
    assert "external_id" in errors and "address" in errors["external_id"][0], errors
    assert not Device.objects.filter(code="new-one").exists()


@pytest.mark.django_db
def test_an_admin_save_losing_the_race_for_an_address_is_an_error_message_not_a_500(
    client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    DeviceFactory(code="lobby", external_id="tm-42")
    # Every check passed before the other save committed (the form's own constraint check included).
    monkeypatch.setattr(catalog, "device_address_check", lambda **kwargs: None)
    monkeypatch.setattr(Device, "validate_constraints", lambda self, exclude=None: None)
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    form = _admin_form()
    page = client.post(reverse("admin:payments_device_add"), form, follow=True)
    assert page.status_code == 200
    shown = [str(m) for m in page.context["messages"]]
    assert any("address" in m for m in shown), (page.redirect_chain, shown)
    assert not Device.objects.filter(code="new-one").exists()


@pytest.mark.django_db
def test_the_service_itself_holds_the_rule() -> None:
    DeviceFactory(code="lobby", external_id="tm-42")
    with pytest.raises(ValidationError) as raised:
        catalog.device_address_check(instance=None, external_id="lobby", code="anything")
    assert set(raised.value.message_dict) == {"external_id"}
    catalog.device_address_check(instance=None, external_id="tm-43", code="hall")  # free


@pytest.mark.django_db
def test_the_database_refuses_a_second_device_at_one_address() -> None:
    """Anything that bypasses the edges (a race between two saves, a shell) meets the constraint."""
    DeviceFactory(code="lobby", external_id="tm-42")
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceFactory(code="other", external_id="tm-42")
    with pytest.raises(IntegrityError), transaction.atomic():
        DeviceFactory(code="tm-42", external_id="")  # its address is its code: the same topic


@pytest.mark.django_db
def test_a_legacy_qr_never_opens_an_order_on_a_guessed_machine(client: Client) -> None:
    """Were two machines ever to share an id (rows older than the constraint), /v1/pay picks none of
    them instead of the first one found, which may be another merchant's."""
    with connection.cursor() as cursor:  # rolled back with the test's transaction
        cursor.execute("DROP INDEX payments_device_address_unique")
    DeviceFactory(code="a-1", external_id="tm-shared")
    DeviceFactory(code="b-1", external_id="tm-shared")
    response = client.get("/v1/pay?deviceUuid=tm-shared&drinkNo=1&size=0&uuid=m-1")
    assert response.status_code == 404
    assert not Order.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_migration_stops_on_existing_duplicates_and_lists_them() -> None:
    latest = latest_nodes()
    try:
        _migrate([("payments", "0005_settlement_capture_failed")])
        first = DeviceFactory(code="lobby", external_id="tm-42")
        second = DeviceFactory(code="hall", external_id="tm-42")
        third = DeviceFactory(code="bar", external_id="lobby")
        with pytest.raises(RuntimeError) as stopped:
            _migrate([("payments", "0006_device_address_unique")])
        message = str(stopped.value)
        assert "'tm-42'" in message and f"device {first.pk} " in message and f"device {second.pk} " in message
        assert f"external_id 'lobby' of device {third.pk} " in message
        # Nothing was renamed: the operator decides which machine keeps the address.
        assert set(Device.objects.values_list("external_id", flat=True)) == {"tm-42", "lobby"}
        Device.objects.filter(pk=second.pk).update(external_id="tm-43")
        Device.objects.filter(pk=third.pk).update(external_id="tm-44")
        _migrate([("payments", "0006_device_address_unique")])
        with pytest.raises(IntegrityError), transaction.atomic():
            DeviceFactory(code="new", external_id="tm-43")
    finally:
        Device.objects.all().delete()
        _migrate(latest)
