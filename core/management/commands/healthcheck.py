"""``manage.py healthcheck web|mqtt-listener``: the container healthchecks of docker-compose.yml that
are not a Celery ping (workers and beat answer ``celery inspect ping``; see bin/start). Exit 0 when
healthy, 1 with the reason on stderr otherwise."""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from core.heartbeat import STALE_AFTER_SECONDS, heartbeat_age


def check_web(timeout: float) -> str:
    """gunicorn answers /health/ on WEB_BIND's port, as the probe calls it: by address, not by a
    public host name (core.middleware.HealthCheckMiddleware)."""
    port = os.environ.get("WEB_BIND", "127.0.0.1:8000").rsplit(":", 1)[-1]
    url = f"http://127.0.0.1:{port}/health/"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except OSError as exc:
        raise CommandError(f"web: {url} not answering ({type(exc).__name__})") from exc
    if status != 200:
        raise CommandError(f"web: {url} answered {status}")
    return f"web: {url} answered 200"


def check_mqtt_listener() -> str:
    """The listener touches its heartbeat while it is connected to the broker and subscribed."""
    age = heartbeat_age("mqtt-listener")
    if age is None:
        raise CommandError("mqtt-listener: not subscribed yet (no heartbeat)")
    if age > STALE_AFTER_SECONDS:
        raise CommandError(f"mqtt-listener: last heartbeat {age:.0f} s ago (disconnected or stuck)")
    return f"mqtt-listener: subscribed, heartbeat {age:.0f} s ago"


class Command(BaseCommand):
    help = "Container healthcheck of a long-running role (web, mqtt-listener): exit 0 when healthy."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("role", choices=["web", "mqtt-listener"])
        parser.add_argument("--timeout", type=float, default=5.0)

    def handle(self, *args: Any, **options: Any) -> None:
        said = check_web(options["timeout"]) if options["role"] == "web" else check_mqtt_listener()
        self.stdout.write(said)
