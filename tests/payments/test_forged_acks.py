"""PAY-6 / issue 8.4: an acknowledgement moves money only when it comes on the ack topic of the
device the command was sent to and echoes that command's id; anything else is logged and ignored."""

from __future__ import annotations

import json
import time
import uuid

import paho.mqtt.client as paho
import pytest

from payments.clients import mqtt
from payments.models import BrewCommand, Device, OrderStatus, Payment, Refund
from payments.services.brew import brew_ack
from payments.services.orders import order_create
from payments.services.payments import payment_apply_status

pytestmark = [pytest.mark.django_db(transaction=True)]


def _sent_order(shop, sims, device: Device) -> BrewCommand:
    """A paid MQTT order whose command the (silent) machine received and has not acknowledged."""
    created = order_create(device=device, drink=shop.drink, size="small")
    sims.yookassa.pay(created.order.payment.provider_payment_id)
    payment = Payment.objects.get(order=created.order)
    payment_apply_status(payment_id=payment.pk, status="waiting_for_capture", source="test")
    command = BrewCommand.objects.get(order=created.order)
    assert command.status == BrewCommand.Status.SENT
    return command


def _unchanged(command: BrewCommand) -> None:
    command.refresh_from_db()
    assert command.status == BrewCommand.Status.SENT and command.accepted_at is None
    assert command.order.__class__.objects.get(pk=command.order_id).status == OrderStatus.MAKE_PENDING
    payment = Payment.objects.get(order_id=command.order_id)
    assert payment.status == "waiting_for_capture" and not Refund.objects.filter(payment=payment).exists()


@pytest.fixture
def two_devices(shop, sims, eager, machine):
    machine.mode = "silence"
    other = Device.objects.create(
        merchant=shop.merchant,
        code=f"mq2-{uuid.uuid4().hex[:6]}",
        name="MQTT 2",
        channel=Device.Channel.MQTT,
        external_id=f"mq2-{uuid.uuid4().hex[:6]}",
        ack_timeout_seconds=5,
    )
    return shop.mqtt_device, other


def test_done_on_another_devices_topic_is_ignored(shop, sims, two_devices, caplog) -> None:
    mine, other = two_devices
    command = _sent_order(shop, sims, mine)
    for status in ("accepted", "done", "failed"):
        assert (
            brew_ack(device_id=other.external_id, command_id=str(command.command_id), status=status) == "wrong_device"
        )
    assert "not on its device's" in caplog.text
    _unchanged(command)


def test_done_for_a_command_of_another_device_is_ignored(shop, sims, two_devices) -> None:
    """Device B, on its own topic, echoes the id of a command sent to device A (read off the broker)."""
    mine, other = two_devices
    command_a = _sent_order(shop, sims, mine)
    command_b = _sent_order(shop, sims, other)
    assert brew_ack(device_id=other.external_id, command_id=str(command_a.command_id), status="done") == "wrong_device"
    _unchanged(command_a)
    _unchanged(command_b)


@pytest.mark.parametrize("command_id", ["00000000-0000-4000-8000-000000000000", "not-a-uuid", "", "1" * 500, "\x00"])
def test_unknown_or_malformed_command_id_is_ignored(shop, sims, two_devices, command_id: str) -> None:
    mine, _ = two_devices
    command = _sent_order(shop, sims, mine)
    assert brew_ack(device_id=mine.external_id, command_id=command_id, status="done") == "unknown"
    _unchanged(command)


def test_unknown_status_is_ignored(shop, sims, two_devices) -> None:
    mine, _ = two_devices
    command = _sent_order(shop, sims, mine)
    assert brew_ack(device_id=mine.external_id, command_id=str(command.command_id), status="DONE!") == "ignored"
    _unchanged(command)


def test_ack_for_a_command_never_sent_is_ignored(shop, sims, two_devices) -> None:
    mine, _ = two_devices
    order = order_create(device=mine, drink=shop.drink, size="small").order
    command = BrewCommand.objects.create(order=order, channel=Device.Channel.MQTT)
    assert brew_ack(device_id=mine.external_id, command_id=str(command.command_id), status="done") == "not_sent"
    command.refresh_from_db()
    assert command.status == BrewCommand.Status.QUEUED


def test_failed_after_done_changes_nothing(shop, sims, two_devices) -> None:
    mine, _ = two_devices
    command = _sent_order(shop, sims, mine)
    assert brew_ack(device_id=mine.external_id, command_id=str(command.command_id), status="done") == "successful"
    assert brew_ack(device_id=mine.external_id, command_id=str(command.command_id), status="failed") == "noop"
    command.refresh_from_db()
    assert command.status == BrewCommand.Status.DONE
    payment = Payment.objects.get(order_id=command.order_id)
    assert payment.status == "succeeded" and not Refund.objects.filter(payment=payment).exists()


def test_the_real_device_on_its_own_topic_still_counts(shop, sims, two_devices) -> None:
    mine, _ = two_devices
    command = _sent_order(shop, sims, mine)
    assert brew_ack(device_id=mine.external_id, command_id=str(command.command_id), status="accepted") == "accepted"
    assert brew_ack(device_id=mine.external_id, command_id=str(command.command_id), status="done") == "successful"
    command.refresh_from_db()
    assert command.status == BrewCommand.Status.DONE and command.accepted_at is not None


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[" * 100_000,
        b"[]",
        b'{"status": "done"}',
        b'{"command_id": 5, "status": "done"}',
        b'{"command_id": {"a": 1}, "status": "done"}',
        b'{"command_id": "x", "status": ["done"]}',
    ],
)
def test_malformed_payloads_are_dropped_by_the_parser(payload: bytes) -> None:
    assert mqtt.parse_ack("devices/mq-1/events/ack", payload) is None


def test_forged_acks_over_the_real_broker_change_nothing(shop, sims, two_devices, ack_listener) -> None:
    """Through Mosquitto and the listener: forged acks are dropped, then the real one completes the order."""
    mine, other = two_devices
    command = _sent_order(shop, sims, mine)
    cid = str(command.command_id)
    forger = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"forger-{uuid.uuid4().hex[:8]}")
    host, port, _, _ = mqtt.broker()
    forger.connect(host, port)
    forger.loop_start()
    try:
        forged = [
            (f"{sims.prefix}/{other.external_id}/events/ack", {"command_id": cid, "status": "failed"}),
            (f"{sims.prefix}/{other.external_id}/events/ack", {"command_id": cid, "status": "done"}),
            (f"{sims.prefix}/{mine.external_id}/events/ack", {"command_id": str(uuid.uuid4()), "status": "done"}),
            (f"{sims.prefix}/{mine.external_id}/events/ack", "{{{{"),
        ]
        for topic, body in forged:
            forger.publish(topic, body if isinstance(body, str) else json.dumps(body), qos=1).wait_for_publish(5)
        time.sleep(1.0)  # the listener has had them; none may have changed anything
        _unchanged(command)
        forger.publish(
            f"{sims.prefix}/{mine.external_id}/events/ack", json.dumps({"command_id": cid, "status": "done"}), qos=1
        ).wait_for_publish(5)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            command.refresh_from_db()
            if command.status == BrewCommand.Status.DONE:
                break
            time.sleep(0.05)
        assert command.status == BrewCommand.Status.DONE
    finally:
        forger.loop_stop()
        forger.disconnect()
