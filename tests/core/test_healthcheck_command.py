"""`manage.py healthcheck` (docker-compose.yml's checks of web and the MQTT listener, issue 21)."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from core.heartbeat import STALE_AFTER_SECONDS, heartbeat_age, heartbeat_path, heartbeat_touch


@pytest.fixture(autouse=True)
def own_heartbeats(settings, tmp_path: Path) -> None:
    settings.HEARTBEAT_DIR = str(tmp_path / "heartbeats")


def test_the_listener_is_healthy_only_with_a_fresh_heartbeat() -> None:
    with pytest.raises(CommandError, match="not subscribed yet"):
        call_command("healthcheck", "mqtt-listener")
    heartbeat_touch("mqtt-listener")
    call_command("healthcheck", "mqtt-listener")
    old = time.time() - STALE_AFTER_SECONDS - 5
    os.utime(heartbeat_path("mqtt-listener"), (old, old))
    with pytest.raises(CommandError, match="disconnected or stuck"):
        call_command("healthcheck", "mqtt-listener")


def test_the_listener_beats_only_while_subscribed(monkeypatch: pytest.MonkeyPatch) -> None:
    from payments.management.commands import mqtt_listener

    monkeypatch.setattr(mqtt_listener, "INTERVAL_SECONDS", 0.05)
    ready, stop = threading.Event(), threading.Event()
    heartbeat_touch("mqtt-listener")  # left over from a previous run of the container
    beating = threading.Thread(target=mqtt_listener._heartbeat, args=(ready, stop), daemon=True)
    beating.start()
    try:
        time.sleep(0.3)
        assert heartbeat_age("mqtt-listener") is None  # not subscribed: the stale file is gone
        ready.set()  # subscribed
        deadline = time.monotonic() + 5
        while heartbeat_age("mqtt-listener") is None:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        ready.clear()  # the broker went away (on_disconnect)
        time.sleep(0.3)
        assert (heartbeat_age("mqtt-listener") or 0) >= 0.2  # no longer touched
    finally:
        stop.set()
        ready.set()
        beating.join(5)


def test_web_is_unhealthy_when_nothing_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.support.processes import free_port

    monkeypatch.setenv("WEB_BIND", f"0.0.0.0:{free_port()}")
    with pytest.raises(CommandError, match="not answering"):
        call_command("healthcheck", "web", "--timeout", "2")
