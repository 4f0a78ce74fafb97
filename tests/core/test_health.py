from __future__ import annotations

import socket

import pytest
from django.test import Client, override_settings

pytestmark = pytest.mark.django_db


def _closed_port() -> int:
    # Bind then close: nothing listens there afterwards.
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_liveness() -> None:
    response = Client().get("/health/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_ready_reports_each_dependency_with_latency() -> None:
    response = Client().get("/health/ready/")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "ok"
    assert set(body["checks"]) == {"database", "redis", "broker"}
    for check in body["checks"].values():
        assert check["status"] == "ok"
        assert isinstance(check["latency_ms"], float) and check["latency_ms"] >= 0


def test_ready_is_503_when_redis_is_down() -> None:
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    with override_settings(REDIS_URL=dead, CELERY_BROKER_URL=dead):
        response = Client().get("/health/ready/")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "down"
    assert body["checks"]["database"]["status"] == "ok"
    assert body["checks"]["redis"]["status"] == "down"
    assert body["checks"]["broker"]["status"] == "down"
    assert "error" in body["checks"]["redis"]


def test_ready_is_503_when_only_the_broker_is_down() -> None:
    dead = f"redis://127.0.0.1:{_closed_port()}/0"
    with override_settings(CELERY_BROKER_URL=dead):
        response = Client().get("/health/ready/")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["status"] == "ok"
    assert response.json()["checks"]["broker"]["status"] == "down"
