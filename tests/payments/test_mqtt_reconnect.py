"""The ack listener and the coffee machine outlive their MQTT broker (SPEC PLAT-13, issue 9): a broker
that is not up yet, or goes away under them, is retried with backoff and logged, never fatal."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from core.embedded import EmbeddedMqtt, free_port
from payments.clients import mqtt
from sandbox.coffee_machine import CoffeeMachine

ROOT = Path(__file__).resolve().parents[2]


def _publish(port: int, topic: str, payload: dict[str, Any]) -> None:
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"test-pub-{uuid.uuid4().hex[:8]}")
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


class _Listener:
    def __init__(self, prefix: str) -> None:
        self.acks: list[mqtt.Ack] = []
        self.arrived = threading.Condition()
        self.stop, self.ready = threading.Event(), threading.Event()
        self.thread = threading.Thread(
            target=mqtt.listen,
            args=(self._on_ack,),
            kwargs={"stop": self.stop, "prefix": prefix, "ready": self.ready},
            daemon=True,
        )

    def _on_ack(self, ack: mqtt.Ack) -> None:
        with self.arrived:
            self.acks.append(ack)
            self.arrived.notify_all()

    def wait_for(self, command_id: str, timeout: float) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: any(a.command_id == command_id for a in self.acks), timeout)


@pytest.fixture
def broker_port(settings: Any) -> int:
    port = free_port()
    settings.MQTT_URL = f"mqtt://127.0.0.1:{port}"
    return port


@pytest.fixture
def brokers(tmp_path: Path) -> Iterator[list[EmbeddedMqtt]]:
    started: list[EmbeddedMqtt] = []
    yield started
    for broker in started:
        broker.stop()


def test_listener_waits_for_a_late_broker_and_reconnects_after_it_restarts(
    broker_port: int, brokers: list[EmbeddedMqtt], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    listener = _Listener(prefix)
    caplog.set_level("WARNING", logger="payments.mqtt_listener")
    listener.thread.start()  # no broker yet: before issue 9 this raised ConnectionRefusedError
    try:
        deadline = time.monotonic() + 15
        while "not reachable" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "not reachable" in caplog.text
        assert listener.thread.is_alive()

        brokers.append(EmbeddedMqtt(tmp_path / "b1", port=broker_port).start())
        assert listener.ready.wait(20), "listener never subscribed once the broker came up"
        _publish(broker_port, f"{prefix}/dev-1/events/ack", {"command_id": "first", "status": "done"})
        assert listener.wait_for("first", 10)

        # The broker goes away under the running listener, and comes back on the same address.
        brokers[0].stop()
        deadline = time.monotonic() + 10
        while "connection to" not in caplog.text and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "lost" in caplog.text
        assert listener.thread.is_alive()
        listener.ready.clear()
        brokers.append(EmbeddedMqtt(tmp_path / "b2", port=broker_port).start())
        assert listener.ready.wait(40), "listener did not resubscribe after the broker restarted"
        _publish(broker_port, f"{prefix}/dev-1/events/ack", {"command_id": "after-restart", "status": "done"})
        assert listener.wait_for("after-restart", 10), [a.command_id for a in listener.acks]
    finally:
        listener.stop.set()
        listener.thread.join(10)
    assert not listener.thread.is_alive()


def test_coffee_machine_started_before_its_broker_subscribes_when_it_comes_up(
    broker_port: int, brokers: list[EmbeddedMqtt], tmp_path: Path
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:10]}"
    machine = CoffeeMachine(prefix=prefix, port=broker_port).start(timeout=None)  # the sandbox's way: no wait
    try:
        time.sleep(1.2)
        brokers.append(EmbeddedMqtt(tmp_path / "b", port=broker_port).start())
        assert machine._ready.wait(20)
        _publish(broker_port, f"{prefix}/dev-1/commands", {"command_id": "c1", "order_id": "o1"})
        assert machine.wait_for_order("o1", 10)
    finally:
        machine.stop()


def test_listener_command_keeps_running_without_a_broker(broker_port: int, tmp_path: Path) -> None:
    """`manage.py mqtt_listener` (what honcho runs) neither exits nor crashes while nothing listens:
    it says so and keeps retrying (before issue 9 it died with ConnectionRefusedError)."""
    env = {
        **os.environ,
        "MQTT_URL": f"mqtt://127.0.0.1:{broker_port}",
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
    }
    log_path = tmp_path / "listener.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "mqtt_listener"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60  # Django's start-up on a loaded machine
        while log_path.read_text().count("not reachable") < 2 and time.monotonic() < deadline:
            assert process.poll() is None, log_path.read_text()
            time.sleep(0.2)
        assert log_path.read_text().count("not reachable") >= 2, log_path.read_text()  # retried, not given up
        assert process.poll() is None, log_path.read_text()
    finally:
        process.terminate()
        process.wait(15)
