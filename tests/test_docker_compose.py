"""docker-compose.yml cannot be run here (no Docker engine), so it is checked against the project."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.core.management import get_commands

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _start_roles() -> set[str]:
    script = (ROOT / "bin" / "start").read_text()
    return set(re.findall(r"^\s{2}([a-z-]+)\)", script, flags=re.M))


def test_services_are_the_production_shape(compose: dict) -> None:
    assert set(compose["services"]) == {
        "postgres", "redis", "mosquitto", "web", "worker-brew", "worker-sync", "beat", "mqtt-listener",
    }
    images = {name: svc.get("image", "") for name, svc in compose["services"].items()}
    assert images["postgres"].startswith("postgres:")
    assert images["redis"].startswith("redis:")
    assert images["mosquitto"].startswith("eclipse-mosquitto:")


def test_app_services_use_the_same_start_commands_as_make_run(compose: dict) -> None:
    roles = _start_roles()
    procfile = {line.split(":", 1)[0]: line.split(":", 1)[1].split() for line in
                (ROOT / "Procfile").read_text().splitlines() if line.strip()}
    assert all(cmd[0] == "bin/start" and cmd[1] in roles for cmd in procfile.values())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["bin/start"]' in dockerfile
    app_services = {n: s for n, s in compose["services"].items() if s.get("build") == "."}
    assert set(app_services) == {"web", "worker-brew", "worker-sync", "beat", "mqtt-listener"}
    for name, svc in app_services.items():
        assert svc["command"][0] in roles, name
        assert svc["image"] == "merchant-ops:latest"


def test_every_queue_has_a_worker(compose: dict) -> None:
    consumed: set[str] = set()
    for svc in compose["services"].values():
        command = svc.get("command", [])
        if command and command[0] == "worker":
            consumed.update(command[1].split(","))
    assert consumed == {q.name for q in settings.CELERY_TASK_QUEUES}


def test_environment_names_are_settings_the_project_reads(compose: dict) -> None:
    sources = "\n".join(p.read_text() for p in (ROOT / "config" / "settings").glob("*.py"))
    sources += (ROOT / "bin" / "start").read_text()
    for name, svc in compose["services"].items():
        if svc.get("build") != ".":
            continue
        env = svc["environment"]
        for key in env:
            assert f'"{key}"' in sources or f"${{{key}" in sources or f"${key}" in sources, (name, key)
        assert env["DEBUG"] == "0"
        assert env["DATABASE_URL"].startswith("postgres://") and "@postgres:5432/" in env["DATABASE_URL"]
        assert env["REDIS_URL"] == "redis://redis:6379/0"
        assert env["MQTT_URL"] == "mqtt://mosquitto:1883"
        # Secrets are required from the environment, never written in the file.
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
        assert env["FIELD_ENCRYPTION_KEYS"].startswith("${FIELD_ENCRYPTION_KEYS:?")


def test_management_commands_behind_the_roles_exist() -> None:
    commands = get_commands()
    script = (ROOT / "bin" / "start").read_text()
    for command in re.findall(r"manage\.py ([a-z_]+)", script):
        assert command in commands, command
