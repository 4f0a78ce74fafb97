"""MQTT brew channel through paho-mqtt 2.x (CallbackAPIVersion.VERSION2, QoS 1; API_CONTRACTS.md).

Commands go to ``<prefix>/<device>/commands`` (never retained: a replay would brew again); the
device acknowledges on ``<prefix>/<device>/events/ack``. Publishing uses one connection per process;
acknowledgements are received by the single ``mqtt_listener`` process, never by a worker.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import re
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import paho.mqtt.client as paho
from django.conf import settings

from core import jsonsafe
from core.exceptions import TransientError
from core.logging import untrusted
from core.mqtt_reconnect import keep_reconnecting

SERVICE = "mqtt"
log = logging.getLogger("payments.mqtt_listener")


@dataclass(frozen=True)
class Ack:
    device_id: str
    command_id: str
    status: str  # accepted | done | failed
    error: str = ""


def broker() -> tuple[str, int, str | None, str | None]:
    parts = urlsplit(settings.MQTT_URL)
    return parts.hostname or "127.0.0.1", parts.port or 1883, parts.username, parts.password


def command_topic(device_id: str, prefix: str | None = None) -> str:
    return f"{prefix or settings.MQTT_TOPIC_PREFIX}/{device_id}/commands"


def ack_topic_filter(prefix: str | None = None) -> str:
    return f"{prefix or settings.MQTT_TOPIC_PREFIX}/+/events/ack"


def _nodelay(client: paho.Client) -> None:
    """Small QoS 1 packets both ways: without TCP_NODELAY, Nagle + delayed ACK can stall one ~40 ms."""
    sock = client.socket()
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # type: ignore[attr-defined]


def listener_client_id(prefix: str | None = None) -> str:
    """The ack listener's fixed client id: MQTT_LISTENER_CLIENT_ID, or one per topic prefix (so two
    deployments sharing a broker under different prefixes never take over each other's session)."""
    if settings.MQTT_LISTENER_CLIENT_ID:
        return str(settings.MQTT_LISTENER_CLIENT_ID)
    topic_prefix = re.sub(r"[^0-9A-Za-z_-]", "-", prefix or settings.MQTT_TOPIC_PREFIX)
    return f"{settings.MQTT_CLIENT_ID_PREFIX}-listener-{topic_prefix}"


def new_client(role: str, *, session_id: str | None = None) -> paho.Client:
    """A client with a random id and a clean session; with ``session_id``, that fixed id and a
    persistent session (clean_session=False): the broker keeps its QoS 1 subscriptions and queues
    their messages while it is disconnected."""
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2,
        client_id=session_id or f"{settings.MQTT_CLIENT_ID_PREFIX}-{role}-{uuid.uuid4().hex[:10]}",
        clean_session=session_id is None,
    )
    _, _, user, password = broker()
    if user:
        client.username_pw_set(user, password)
    return client


class Publisher:
    """A connected client with its network loop in a thread; reconnects by itself."""

    def __init__(self) -> None:
        self._client = new_client("pub")
        self._connected = threading.Event()
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        host, port, _, _ = broker()
        self._client.connect_async(host, port, keepalive=30)
        self._client.loop_start()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if not reason_code.is_failure:
            _nodelay(client)
            self._connected.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        self._connected.clear()

    def publish(self, topic: str, payload: dict[str, Any], *, timeout: float = 5.0) -> None:
        if not self._connected.wait(timeout):
            raise TransientError("MQTT broker not reachable", service=SERVICE)
        info = self._client.publish(topic, json.dumps(payload), qos=1, retain=False)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise TransientError(f"MQTT publish failed: {exc}", service=SERVICE) from exc
        if not info.is_published():
            raise TransientError("MQTT publish not acknowledged by the broker", service=SERVICE)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


_publisher: Publisher | None = None
_publisher_lock = threading.Lock()
_publisher_pid: int | None = None


def publisher() -> Publisher:
    """One per process (a forked worker child must not reuse its parent's socket)."""
    import os

    global _publisher, _publisher_pid
    with _publisher_lock:
        if _publisher is None or _publisher_pid != os.getpid():
            _publisher = Publisher()
            _publisher_pid = os.getpid()
        return _publisher


def publish_command(*, device_id: str, command_id: str, order_id: str, drink: str, size: str, price: int) -> None:
    publisher().publish(
        command_topic(device_id),
        {"command_id": command_id, "order_id": order_id, "drink": drink, "size": size, "price": price},
    )


def parse_ack(topic: str, payload: bytes) -> Ack | None:
    """``<prefix>/<device>/events/ack`` + ``{"command_id": "...", "status": "...", "error": "..."}``;
    None for anything else (the device id comes from the topic, never from the payload)."""
    parts = topic.split("/")
    if len(parts) < 4 or parts[-2:] != ["events", "ack"] or not parts[-3]:
        return None
    try:
        data = jsonsafe.loads(payload)
    except jsonsafe.JSONInputError as exc:  # malformed, too deep, NaN, NUL, lone surrogates: never stored
        log.warning("ack on %s refused: %s", untrusted(topic, 200), untrusted(str(exc), 200))
        return None
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("command_id"), str)
        or not isinstance(data.get("status"), str)
    ):
        return None
    return Ack(
        device_id=parts[-3], command_id=data["command_id"], status=data["status"], error=str(data.get("error") or "")
    )


ACK_RETRY_MIN_DELAY = 0.5  # seconds; doubles after each failed attempt up to the maximum
ACK_RETRY_MAX_DELAY = 10.0


def listen(
    on_ack: Callable[[Ack], None],
    *,
    stop: threading.Event,
    prefix: str | None = None,
    ready: threading.Event | None = None,
) -> None:
    """Block, delivering every acknowledgement to ``on_ack`` until ``stop`` is set.

    Persistent session (fixed client id, clean_session=False) and a QoS 1 subscription: the
    acknowledgements devices publish while the listener is down (a restart, a deploy) are queued
    by the broker and delivered when it reconnects, instead of being lost and the drink refunded
    by the late-ack sweep. Run one listener per client id: a second one takes the session over.

    Manual acknowledgement: the broker is told "received" (PUBACK) only once ``on_ack`` has
    returned, i.e. once the acknowledgement is committed. When ``on_ack`` raises (the database is
    down), the same message is tried again with backoff, unacknowledged, and every later one waits
    behind it (PUBACKs go out in the order the messages came); if the listener stops meanwhile,
    the broker delivers it again to the next session. ``on_ack`` returns for anything it will
    never apply (a forged or malformed acknowledgement is logged and dropped).
    """
    client = new_client("listener", session_id=listener_client_id(prefix))
    client.manual_ack_set(True)
    topic = ack_topic_filter(prefix)
    received: queue.Queue[tuple[Ack, int, int]] = queue.Queue()

    def on_connect(c: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if not reason_code.is_failure:
            _nodelay(c)
            c.subscribe(topic, qos=1)

    def on_subscribe(c: Any, userdata: Any, mid: Any, reason_codes: Any, properties: Any) -> None:
        if ready is not None:
            ready.set()

    def on_message(c: Any, userdata: Any, message: Any) -> None:
        ack = parse_ack(message.topic, message.payload)
        if ack is None:  # nothing that could ever be applied: redelivering it would not help
            c.ack(message.mid, message.qos)
            return
        # Applied in another thread: this one keeps the connection alive (pings) meanwhile.
        received.put((ack, message.mid, message.qos))

    def apply_in_order() -> None:
        while not stop.is_set():
            try:
                ack, mid, qos = received.get(timeout=0.2)
            except queue.Empty:
                continue
            delay = ACK_RETRY_MIN_DELAY
            while True:
                try:
                    on_ack(ack)
                except Exception as exc:
                    if stop.is_set():
                        return  # not acknowledged: the broker hands it to the next session
                    log.warning(
                        "ack %s from %s not applied (%s); not acknowledged to the broker, retrying in %.1fs",
                        untrusted(ack.command_id),
                        untrusted(ack.device_id),
                        type(exc).__name__,
                        delay,
                    )
                    stop.wait(delay)
                    delay = min(delay * 2, ACK_RETRY_MAX_DELAY)
                    continue
                client.ack(mid, qos)
                break

    def on_disconnect(c: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if ready is not None:
            ready.clear()  # not subscribed until the next on_subscribe (the listener's heartbeat stops)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.on_disconnect = on_disconnect
    applier = threading.Thread(target=apply_in_order, name="mqtt-ack-apply", daemon=True)
    applier.start()
    host, port, _, _ = broker()
    keep_reconnecting(client, host, port, log_name="payments.mqtt_listener")
    try:
        stop.wait()
    finally:
        applier.join(30)
        client.loop_stop()
        client.disconnect()
