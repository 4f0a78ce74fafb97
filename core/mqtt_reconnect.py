"""MQTT clients that outlive their broker (SPEC PLAT-13): the ack listener and the sandbox coffee machine
connect through ``keep_reconnecting`` and never exit because the broker is down or restarts."""

from __future__ import annotations

import logging
from typing import Any

import paho.mqtt.client as paho

RECONNECT_MIN_DELAY = 1  # seconds; doubles after each failed attempt up to the maximum
RECONNECT_MAX_DELAY = 30


def keep_reconnecting(client: paho.Client, host: str, port: int, *, log_name: str) -> None:
    """Connect in the client's network thread and keep retrying, with exponential backoff, for as long
    as the broker is unreachable or whenever it goes away, logging each failure instead of exiting
    (SPEC PLAT-13). paho's loop thread runs ``loop_forever(retry_first_connection=True)``."""
    logger = logging.getLogger(log_name)
    client.reconnect_delay_set(min_delay=RECONNECT_MIN_DELAY, max_delay=RECONNECT_MAX_DELAY)
    where = f"{host}:{port}"

    def on_connect_fail(c: Any, userdata: Any) -> None:
        logger.warning("MQTT broker %s not reachable; retrying (backoff up to %ss)", where, RECONNECT_MAX_DELAY)

    previous_on_disconnect: Any = client.on_disconnect  # VERSION2 callbacks (5 arguments)

    def on_disconnect(c: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        logger.warning("MQTT connection to %s lost (%s); reconnecting", where, reason_code)
        if previous_on_disconnect is not None:
            previous_on_disconnect(c, userdata, flags, reason_code, properties)

    previous_on_connect: Any = client.on_connect

    def on_connect(c: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            logger.warning("MQTT broker %s refused the connection (%s); retrying", where, reason_code)
        else:
            logger.info("MQTT connected to %s", where)
        if previous_on_connect is not None:
            previous_on_connect(c, userdata, flags, reason_code, properties)

    client.on_connect_fail = on_connect_fail
    client.on_disconnect = on_disconnect
    client.on_connect = on_connect
    client.connect_async(host, port, keepalive=30)
    client.loop_start()
