"""Issue 19.4: values from outside reach the log escaped and cut, never raw — a device's forged ack
fields and a webhook's event name can neither forge a second log line nor make a 100 kB one, and NUL
bytes do not go through."""

from __future__ import annotations

import logging
import uuid

import pytest

from payments.clients import mqtt
from payments.management.commands.mqtt_listener import handle_ack

FORGED_LINE = "\n2026-01-01 00:00:00 INFO payments.mqtt_listener ack applied"
HUGE = "x" * 100_000


def _assert_safe(records: list[logging.LogRecord]) -> None:
    assert records
    for record in records:
        text = record.getMessage()
        assert "\n" not in text and "\x00" not in text, text[:300]
        assert len(text) < 1000, len(text)


@pytest.mark.django_db(transaction=True)  # handle_ack closes the connection as the listener does
@pytest.mark.parametrize(
    "ack",
    [
        mqtt.Ack(device_id="dev" + FORGED_LINE, command_id="id" + FORGED_LINE, status="done"),
        mqtt.Ack(device_id="dev", command_id=HUGE, status="done"),
        mqtt.Ack(device_id="dev\x00nul", command_id=str(uuid.uuid4()), status="done\x00" + HUGE),
    ],
    ids=["newline", "100k-id", "nul"],
)
def test_the_ack_listener_logs_hostile_fields_escaped_and_cut(ack: mqtt.Ack, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    handle_ack(ack)
    _assert_safe([r for r in caplog.records if r.name.startswith("payments")])


@pytest.mark.django_db
def test_a_webhook_event_name_is_logged_escaped_and_cut(client, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    body = {"type": "notification", "event": "payment.unknown" + FORGED_LINE + HUGE, "object": {"id": "p\x01" + HUGE}}
    assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 200
    body["event"] = "refund.succeeded" + FORGED_LINE
    assert client.post("/webhooks/yookassa/", body, content_type="application/json").status_code == 200
    _assert_safe([r for r in caplog.records if r.name.startswith("payments")])
