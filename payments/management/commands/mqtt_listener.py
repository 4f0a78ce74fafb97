"""The one long-running process that receives device acknowledgements over MQTT (SPEC PAY-6).

Workers never block on a subscription: this process subscribes to ``<prefix>/+/events/ack`` with
QoS 1 and applies each acknowledgement through the brew service (idempotent: a duplicate delivery
finds the command already finished). Run it as its own service (Procfile / docker-compose).
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
from typing import Any

from django.core.management.base import BaseCommand
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from core.heartbeat import INTERVAL_SECONDS, heartbeat_clear, heartbeat_touch
from core.logging import untrusted
from payments.clients import mqtt
from payments.services.brew import brew_ack

log = logging.getLogger("payments.mqtt_listener")


def handle_ack(ack: mqtt.Ack) -> None:
    """Apply one acknowledgement; returning means "done with it", and only then does the listener tell
    the broker it was received (manual PUBACK, ``mqtt.listen``).

    A database that cannot be reached raises, so the message stays unacknowledged and is applied
    again (retried here, or redelivered by the broker to the next session): the acknowledgement of a
    drink that was made is never lost to a database blip and refunded by the late-ack sweep. Any
    other error is a fault of this one message: logged and dropped, so it cannot hold up the others.
    """
    close_old_connections()
    try:
        result = brew_ack(device_id=ack.device_id, command_id=ack.command_id, status=ack.status, error=ack.error)
    except (OperationalError, InterfaceError):
        # The connection is unusable: drop it, so the next attempt opens a new one.
        with contextlib.suppress(Exception):
            connection.close()
        raise
    except Exception:  # one bad message must not kill the listener or block the acks behind it
        log.exception("ack %s from %s could not be applied", untrusted(ack.command_id), untrusted(ack.device_id))
        return
    log.info(
        "ack %s %s from %s -> %s", untrusted(ack.command_id), untrusted(ack.status), untrusted(ack.device_id), result
    )


class Command(BaseCommand):
    help = "Receive brew acknowledgements from devices over MQTT"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--prefix", default=None, help="topic prefix (default: MQTT_TOPIC_PREFIX)")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = threading.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: stop.set())
        ready = threading.Event()
        # Subscribed once the broker answers: the client retries with backoff until it does.
        threading.Thread(
            target=lambda: ready.wait() and self.stdout.write("mqtt_listener: subscribed"), daemon=True
        ).start()
        threading.Thread(target=_heartbeat, args=(ready, stop), daemon=True, name="heartbeat").start()
        mqtt.listen(handle_ack, stop=stop, prefix=options.get("prefix"), ready=ready)


def _heartbeat(ready: threading.Event, stop: threading.Event) -> None:
    """The container healthcheck (manage.py healthcheck mqtt-listener): touched while connected and
    subscribed (``ready`` is cleared on a disconnect), so a listener cut off from the broker goes stale."""
    heartbeat_clear("mqtt-listener")
    while not stop.is_set():
        if ready.wait(INTERVAL_SECONDS):
            heartbeat_touch("mqtt-listener")
            stop.wait(INTERVAL_SECONDS)
