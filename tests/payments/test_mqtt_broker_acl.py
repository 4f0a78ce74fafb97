"""PLAT-13 / issue 8.4: the shipped broker config (deploy/mosquitto.conf + deploy/mosquitto.acl), run
by a real Mosquitto: no anonymous client, a machine publishes only its own acknowledgements and reads
only its own commands, the application user publishes commands and reads acknowledgements."""

from __future__ import annotations

import json
import queue
import secrets
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
import pytest

from tests.support import mosquitto

pytestmark = pytest.mark.skipif(not mosquitto.available(), reason="mosquitto is not installed")
APP = "merchant-ops"  # the application user of deploy/mosquitto.acl
USERS = {APP: secrets.token_urlsafe(12), "machine-a": secrets.token_urlsafe(12), "machine-b": secrets.token_urlsafe(12)}


@pytest.fixture(scope="module")
def port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    with mosquitto.private_broker(tmp_path_factory.mktemp("mosquitto"), USERS) as p:
        yield p


class Peer:
    """One MQTT client; ``connect`` returns the broker's CONNACK reason; messages land in ``inbox``."""

    def __init__(self, port: int, user: str | None, password: str | None = None) -> None:
        self.port = port
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"acl-{uuid.uuid4().hex[:8]}")
        if user is not None:
            self.client.username_pw_set(user, password)
        self.inbox: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.connack: queue.Queue[Any] = queue.Queue()
        self.subscribed = threading.Event()
        self.client.on_connect = lambda c, u, f, rc, p: self.connack.put(rc)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.inbox.put((m.topic, m.payload))

    def connect(self) -> Any:
        self.client.connect("127.0.0.1", self.port, keepalive=10)
        self.client.loop_start()
        return self.connack.get(timeout=10)

    def subscribe(self, topic: str) -> None:
        self.subscribed.clear()
        self.client.subscribe(topic, qos=1)
        assert self.subscribed.wait(5)

    def publish(self, topic: str, payload: dict[str, Any]) -> None:
        self.client.publish(topic, json.dumps(payload), qos=1).wait_for_publish(5)

    def received(self, wait: float) -> list[str]:
        out = []
        try:
            while True:
                out.append(self.inbox.get(timeout=wait)[0])
                wait = 0.2
        except queue.Empty:
            return out

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def peers(port: int) -> Iterator[dict[str, Peer]]:
    made = {name: Peer(port, name, USERS[name]) for name in USERS}
    try:
        for peer in made.values():
            assert not peer.connect().is_failure
        yield made
    finally:
        for peer in made.values():
            peer.close()


def test_anonymous_and_wrong_password_are_refused(port: int) -> None:
    for user, password in ((None, None), ("machine-a", "wrong"), ("nobody", "x")):
        peer = Peer(port, user, password)
        try:
            reason = peer.connect()
            assert reason.is_failure, (user, reason)
        finally:
            peer.close()


def test_machine_cannot_acknowledge_on_another_machines_topic(peers: dict[str, Peer]) -> None:
    app, a = peers[APP], peers["machine-a"]
    app.subscribe("devices/+/events/#")
    a.publish("devices/machine-b/events/ack", {"command_id": str(uuid.uuid4()), "status": "failed"})
    a.publish("devices/machine-a/events/ack", {"command_id": str(uuid.uuid4()), "status": "done"})
    assert app.received(wait=2) == ["devices/machine-a/events/ack"]  # only its own went through


def test_machine_reads_only_its_own_commands(peers: dict[str, Peer]) -> None:
    app, a = peers[APP], peers["machine-a"]
    a.subscribe("devices/+/commands")  # a wildcard does not widen what the ACL lets it read
    a.subscribe("devices/machine-b/commands")
    a.subscribe("devices/machine-a/commands")
    app.publish("devices/machine-b/commands", {"command_id": str(uuid.uuid4())})
    app.publish("devices/machine-a/commands", {"command_id": str(uuid.uuid4())})
    got = a.received(wait=2)
    assert got and set(got) == {"devices/machine-a/commands"}, got


def test_machine_cannot_publish_commands_and_app_user_works(peers: dict[str, Peer]) -> None:
    app, a, b = peers[APP], peers["machine-a"], peers["machine-b"]
    b.subscribe("devices/machine-b/commands")
    a.publish("devices/machine-b/commands", {"command_id": str(uuid.uuid4())})  # a forged brew order
    assert b.received(wait=1.5) == []
    app.publish("devices/machine-b/commands", {"command_id": str(uuid.uuid4())})
    assert b.received(wait=5) == ["devices/machine-b/commands"]


def test_the_apps_mqtt_client_authenticates_from_mqtt_url(port: int, settings: Any, tmp_path: Path) -> None:
    """payments.clients.mqtt logs in with the user:password of MQTT_URL (publisher and listener)."""
    from payments.clients import mqtt

    settings.MQTT_URL = f"mqtt://{APP}:{USERS[APP]}@127.0.0.1:{port}"
    settings.MQTT_TOPIC_PREFIX = "devices"
    machine = Peer(port, "machine-a", USERS["machine-a"])
    assert not machine.connect().is_failure
    acks: queue.Queue[mqtt.Ack] = queue.Queue()
    stop, ready = threading.Event(), threading.Event()
    listener = threading.Thread(
        target=mqtt.listen, args=(acks.put,), kwargs={"stop": stop, "ready": ready}, daemon=True
    )
    listener.start()
    publisher = mqtt.Publisher()
    try:
        assert ready.wait(10), "the listener could not subscribe as the app user"
        machine.subscribe("devices/machine-a/commands")
        command_id = str(uuid.uuid4())
        publisher.publish(mqtt.command_topic("machine-a"), {"command_id": command_id})
        assert machine.received(wait=5) == ["devices/machine-a/commands"]
        machine.publish("devices/machine-a/events/ack", {"command_id": command_id, "status": "done"})
        ack = acks.get(timeout=5)
        assert (ack.device_id, ack.command_id, ack.status) == ("machine-a", command_id, "done")
    finally:
        publisher.close()
        stop.set()
        listener.join(5)
        machine.close()
