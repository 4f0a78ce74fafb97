"""A simulated coffee machine on MQTT (paho-mqtt 2.x, QoS 1).

Subscribes to ``<prefix>/+/commands``, de-duplicates on ``command_id`` (QoS 1 may deliver twice),
and acknowledges on ``<prefix>/<device>/events/ack``: ``accepted`` then ``done`` — or ``failed``, or
nothing at all, per ``mode`` (``success``, ``failure``, ``silence``; per device in ``modes``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho

from core.mqtt_reconnect import keep_reconnecting

from .registry import register_service


class CoffeeMachine:
    def __init__(
        self,
        *,
        prefix: str = "devices",
        mode: str = "success",
        brew_seconds: float = 0.0,
        host: str | None = None,
        port: int | None = None,
    ) -> None:
        if host is None or port is None:  # the broker the project is configured with (MQTT_URL)
            from django.conf import settings

            parts = urlsplit(settings.MQTT_URL)
            host, port = host or parts.hostname or "127.0.0.1", port or parts.port or 1883
        self.prefix = prefix
        self.mode = mode
        self.modes: dict[str, str] = {}
        self.brew_seconds = brew_seconds
        self.host, self.port = host, port
        self.lock = threading.Lock()
        self.received: list[dict[str, Any]] = []  # every delivery, duplicates included
        self.brewed: dict[str, dict[str, Any]] = {}  # command_id → command: drinks actually made
        self.seen: set[str] = set()
        self.failed: dict[str, dict[str, Any]] = {}  # command_id → command the machine failed
        self.received_at: dict[str, float] = {}  # order_id → time.time() of the first delivery
        self.arrived = threading.Condition()  # notified on every command (tests wait on it, no polling)
        self._ready = threading.Event()
        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"coffee-machine-{uuid.uuid4().hex[:8]}")
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._ready.set()
        self.client.on_message = self._on_message

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        with contextlib.suppress(OSError, AttributeError):
            client.socket().setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        client.subscribe(f"{self.prefix}/+/commands", qos=1)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        now = time.time()
        try:
            command = json.loads(message.payload)
            command_id = str(command["command_id"])
        except (ValueError, KeyError, TypeError):
            return
        device = message.topic.split("/")[-2]
        with self.lock:
            self.received.append(command)
            duplicate = command_id in self.seen
            self.seen.add(command_id)
            self.received_at.setdefault(str(command.get("order_id")), now)
        with self.arrived:
            self.arrived.notify_all()
        mode = self.modes.get(device, self.mode)
        if duplicate or mode == "silence":
            return
        ack_topic = f"{self.prefix}/{device}/events/ack"
        client.publish(ack_topic, json.dumps({"command_id": command_id, "status": "accepted"}), qos=1)
        threading.Thread(target=self._finish, args=(client, ack_topic, command, mode), daemon=True).start()

    def _finish(self, client: Any, topic: str, command: dict[str, Any], mode: str) -> None:
        if self.brew_seconds:
            time.sleep(self.brew_seconds)
        with self.lock:
            if mode == "failure":
                self.failed[str(command["command_id"])] = command
                ack = {"command_id": command["command_id"], "status": "failed", "error": "no cups"}
            else:
                self.brewed[str(command["command_id"])] = command
                ack = {"command_id": command["command_id"], "status": "done"}
        client.publish(topic, json.dumps(ack), qos=1)

    def wait_for_order(self, order_id: str, timeout: float = 10.0) -> bool:
        with self.arrived:
            return self.arrived.wait_for(lambda: order_id in self.received_at, timeout)

    def start(self, timeout: float | None = 10.0) -> CoffeeMachine:
        """Connect (retrying with backoff while the broker is away) and wait up to ``timeout`` seconds
        for the subscription; ``timeout=None`` returns at once and lets the retries go on."""
        keep_reconnecting(self.client, self.host, self.port, log_name="sandbox.coffee_machine")
        if timeout is not None and not self._ready.wait(timeout):
            self.stop()
            raise RuntimeError("coffee machine could not subscribe")
        return self

    def stop(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def _start_from_settings() -> Callable[[], None]:
    from django.conf import settings

    parts = urlsplit(settings.MQTT_URL)
    machine = CoffeeMachine(
        prefix=settings.MQTT_TOPIC_PREFIX, brew_seconds=2.0, host=parts.hostname or "127.0.0.1", port=parts.port or 1883
    )
    if parts.username:  # a broker with users (bin/start sandbox against Mosquitto): log in as MQTT_URL does
        machine.client.username_pw_set(parts.username, parts.password)
    machine.start(timeout=None)  # a broker that is not up yet is retried, logged, never fatal
    return machine.stop


register_service("coffee_machine", _start_from_settings)
