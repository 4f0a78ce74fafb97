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
        "postgres",
        "redis",
        "mosquitto",
        "web",
        "worker-brew",
        "worker-sync",
        "worker-repricer",
        "beat",
        "mqtt-listener",
    }
    images = {name: svc.get("image", "") for name, svc in compose["services"].items()}
    assert images["postgres"].startswith("postgres:")
    assert images["redis"].startswith("redis:")
    assert images["mosquitto"].startswith("eclipse-mosquitto:")


def test_app_services_use_the_same_start_commands_as_make_run(compose: dict) -> None:
    roles = _start_roles()
    procfile = {
        line.split(":", 1)[0]: line.split(":", 1)[1].split()
        for line in (ROOT / "Procfile").read_text().splitlines()
        if line.strip()
    }
    assert all(cmd[0] == "bin/start" and cmd[1] in roles for cmd in procfile.values())
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["bin/start"]' in dockerfile
    app_services = {n: s for n, s in compose["services"].items() if s.get("build") == "."}
    assert set(app_services) == {"web", "worker-brew", "worker-sync", "worker-repricer", "beat", "mqtt-listener"}
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
        # The app logs in to the broker as the ACL's application user, its password from the environment.
        assert env["MQTT_URL"] == "mqtt://merchant-ops:${MQTT_PASSWORD:?set MQTT_PASSWORD}@mosquitto:1883"
        # Secrets are required from the environment, never written in the file.
        assert env["SECRET_KEY"].startswith("${SECRET_KEY:?")
        assert env["FIELD_ENCRYPTION_KEYS"].startswith("${FIELD_ENCRYPTION_KEYS:?")


def test_management_commands_behind_the_roles_exist() -> None:
    commands = get_commands()
    script = (ROOT / "bin" / "start").read_text()
    for command in re.findall(r"manage\.py ([a-z_]+)", script):
        assert command in commands, command


def _published_interfaces(svc: dict) -> list[str]:
    """The host address of every published port ("8000:8000" publishes on every interface)."""
    out = []
    for port in svc.get("ports", []):
        parts = str(port).split(":")
        out.append(parts[0] if len(parts) == 3 else "0.0.0.0")
    return out


def test_broker_authenticates_and_is_not_published_on_public_interfaces(compose: dict) -> None:
    broker = compose["services"]["mosquitto"]
    assert all(host == "127.0.0.1" for host in _published_interfaces(broker)), broker.get("ports")
    mounts = {volume.split(":")[1]: volume.split(":")[0] for volume in broker["volumes"]}
    assert mounts["/mosquitto/config/mosquitto.conf"] == "./deploy/mosquitto.conf"
    assert mounts["/mosquitto/config/mosquitto.acl"] == "./deploy/mosquitto.acl"
    assert mounts["/mosquitto/config/passwd"] == "./deploy/mosquitto.passwd"
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    directives = {
        line.split()[0]: line.split(None, 1)[1]
        for line in conf.splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert directives["allow_anonymous"] == "false"
    assert directives["password_file"] == "/mosquitto/config/passwd"
    assert directives["acl_file"] == "/mosquitto/config/mosquitto.acl"
    # The user in MQTT_URL is the ACL's application user.
    acl = (ROOT / "deploy" / "mosquitto.acl").read_text()
    user = compose["services"]["web"]["environment"]["MQTT_URL"].split("//", 1)[1].split(":", 1)[0]
    assert f"user {user}\n" in acl
    assert "pattern write devices/%u/events/#" in acl and "pattern read devices/%u/commands" in acl
    # The password file holds secrets (hashes): never in the repository.
    assert "deploy/mosquitto.passwd" in (ROOT / ".gitignore").read_text()


def test_no_service_is_published_beyond_the_hosts_loopback(compose: dict) -> None:
    for name in ("postgres", "redis"):
        assert not compose["services"][name].get("ports"), name
    for name, svc in compose["services"].items():
        assert all(host == "127.0.0.1" for host in _published_interfaces(svc)), (name, svc.get("ports"))
    # X-Forwarded-Proto is trusted only because web is reachable through the host's proxy alone.
    assert compose["services"]["web"]["environment"]["SECURE_PROXY_SSL_HEADER_TRUSTED"].startswith(
        "${SECURE_PROXY_SSL_HEADER_TRUSTED:-1"
    )
