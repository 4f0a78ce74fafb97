from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLAT3_NAMES = [
    "SECRET_KEY",
    "DEBUG",
    "ALLOWED_HOSTS",
    "REDIS_URL",
    "CELERY_BROKER_URL",
    "MQTT_URL",
    "FIELD_ENCRYPTION_KEYS",
    "ORDER_EXPIRATION_MINUTES",
    "TIME_ZONE",
    "YOOKASSA_API_URL",
    "TBANK_API_URL",
    "TMETR_API_URL",
    "VENDISTA_API_URL",
    "EMAG_API_URL",
    "KASPI_SHOP_API_URL",
    "KASPI_OFFERS_URL",
    "KASPI_CABINET_URL",
    "KASPI_LOGIN_URL",
    "POSTER_API_URL",
    "POSTER_APP_ID",
    "POSTER_APP_SECRET",
    "POSTER_REDIRECT_URI",
    "CHROMIUM_EXECUTABLE",
]
SECURITY_NAMES = [
    "SECURE_SSL_REDIRECT",
    "SECURE_PROXY_SSL_HEADER_TRUSTED",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_HSTS_PRELOAD",
    "SESSION_COOKIE_SECURE",
    "CSRF_COOKIE_SECURE",
    "CSRF_TRUSTED_ORIGINS",
]
CLEAN = {
    k: v
    for k, v in os.environ.items()
    if k not in [*PLAT3_NAMES, *SECURITY_NAMES, "DATABASE_URL", "DJANGO_SETTINGS_MODULE", "PYTEST_XDIST_WORKER"]
}


def _settings_probe(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    script = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings.base'; django.setup()\n"
    return subprocess.run(
        [sys.executable, "-c", script + code],
        cwd=ROOT,
        env={**CLEAN, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_fresh_checkout_defaults_to_postgresql_and_local_redis() -> None:
    """One database engine everywhere (issue 9): no SQLite default; `make run`/`make test` start an
    embedded PostgreSQL and set DATABASE_URL when it is unset."""
    result = _settings_probe(
        "from django.conf import settings as s\n"
        "d = s.DATABASES['default']\n"
        "print(d['ENGINE']); print(d['HOST'], d['PORT'], d['NAME']); print(s.REDIS_URL); print(s.CELERY_BROKER_URL)\n"
        "print(s.ORDER_EXPIRATION_MINUTES, s.DEBUG)",
        DEBUG="1",
    )
    assert result.returncode == 0, result.stderr
    engine, where, redis_url, broker, misc = result.stdout.split("\n")[:5]
    assert engine == "django.db.backends.postgresql"
    assert where == "127.0.0.1 5432 merchant_ops"
    assert redis_url == broker == "redis://127.0.0.1:6390/0"
    assert misc == "15 True"


def test_no_sqlite_code_path_is_left() -> None:
    """SQLite is gone from settings, scripts and docs."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    offenders = []
    for name in tracked.split():
        path = ROOT / name
        # The ignore files keep a stray *.sqlite3 out of git and the image; two tests check just that.
        ignores = (".gitignore", ".dockerignore", "tests/test_docker_compose.py", "tests/test_env_example.py")
        if name in ("tests/core/test_settings.py", *ignores) or not path.is_file():
            continue
        text = path.read_text(errors="replace") if path.suffix in (".py", ".md", ".toml", ".yml", ".txt", "") else ""
        if "sqlite" in text.lower():
            offenders.append(name)
    assert offenders == []


def test_production_refuses_to_start_without_secret_key() -> None:
    result = _settings_probe("print('started')", DEBUG="0", FIELD_ENCRYPTION_KEYS="x")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_refuses_to_start_without_encryption_keys() -> None:
    result = _settings_probe("print('started')", DEBUG="0", SECRET_KEY="s" * 50)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEYS must be set" in result.stderr


def test_every_plat3_name_is_read_from_the_environment() -> None:
    env = {name: f"http://127.0.0.1:1/{name.lower()}" for name in PLAT3_NAMES if name.endswith("_URL")}
    env.update(
        {
            "REDIS_URL": "redis://127.0.0.1:6379/3",
            "MQTT_URL": "mqtt://u:p@127.0.0.1:1883",
            "ORDER_EXPIRATION_MINUTES": "7",
            "TIME_ZONE": "Asia/Almaty",
            "POSTER_APP_ID": "app",
            "POSTER_APP_SECRET": "s",
            "POSTER_REDIRECT_URI": "http://127.0.0.1/cb",
            "CHROMIUM_EXECUTABLE": "/usr/bin/chromium",
            "ALLOWED_HOSTS": "a.example,b.example",
            "DEBUG": "1",
        }
    )
    env.pop("CELERY_BROKER_URL")
    names = [n for n in PLAT3_NAMES if n not in ("SECRET_KEY", "DEBUG", "FIELD_ENCRYPTION_KEYS", "ALLOWED_HOSTS")]
    result = _settings_probe(
        "from django.conf import settings as s\n"
        f"for n in {names!r}: print(n, getattr(s, n))\n"
        "print('ALLOWED_HOSTS', ','.join(s.ALLOWED_HOSTS))",
        **env,
    )
    assert result.returncode == 0, result.stderr
    seen = dict(line.split(" ", 1) for line in result.stdout.strip().split("\n"))
    for name in names:
        expected = env["REDIS_URL"] if name == "CELERY_BROKER_URL" else env[name]  # broker defaults to REDIS_URL
        assert seen[name] == expected, name
    assert seen["ALLOWED_HOSTS"] == "a.example,b.example"


def test_debug_is_off_unless_turned_on() -> None:
    """Nothing set: DEBUG off, so the development SECRET_KEY (and the encryption key derived from it)
    is never used — the app refuses to start instead (PLAT-13)."""
    result = _settings_probe("print('started')")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr
    result = _settings_probe(
        "from django.conf import settings as s; print(s.DEBUG)", SECRET_KEY="s" * 50, FIELD_ENCRYPTION_KEYS="x"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_production_defaults_are_https_only() -> None:
    names = [
        "DEBUG",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SECURE_PROXY_SSL_HEADER",
    ]
    probe = f"from django.conf import settings as s\nfor n in {names!r}: print(n, getattr(s, n, None))"
    keys = {"SECRET_KEY": "s" * 50, "FIELD_ENCRYPTION_KEYS": "x"}
    result = _settings_probe(probe, **keys)
    assert result.returncode == 0, result.stderr
    seen = dict(line.split(" ", 1) for line in result.stdout.strip().split("\n"))
    assert seen == {
        "DEBUG": "False",
        "SECURE_SSL_REDIRECT": "True",
        "SECURE_HSTS_SECONDS": "31536000",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "True",
        "SESSION_COOKIE_SECURE": "True",
        "CSRF_COOKIE_SECURE": "True",
        "SECURE_PROXY_SSL_HEADER": "None",
    }
    # Trusting X-Forwarded-Proto is a decision about the proxy in front, never a default.
    result = _settings_probe(probe, SECURE_PROXY_SSL_HEADER_TRUSTED="1", SECURE_HSTS_SECONDS="600", **keys)
    seen = dict(line.split(" ", 1) for line in result.stdout.strip().split("\n"))
    assert seen["SECURE_PROXY_SSL_HEADER"] == "('HTTP_X_FORWARDED_PROTO', 'https')"
    assert seen["SECURE_HSTS_SECONDS"] == "600"
    # The development run turns it all off with DEBUG.
    result = _settings_probe(probe, DEBUG="1")
    seen = dict(line.split(" ", 1) for line in result.stdout.strip().split("\n"))
    assert seen["DEBUG"] == "True" and seen["SECURE_SSL_REDIRECT"] == "False" and seen["SECURE_HSTS_SECONDS"] == "0"


def test_check_deploy_is_clean_with_production_settings() -> None:
    """The same command as `make check-deploy` (make lint, CI): no warning, nothing silenced but W021."""
    import secrets

    from cryptography.fernet import Fernet

    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        timeout=120,
        # Only what a deployment has: nothing the test run itself set (e.g. Playwright's DJANGO_ALLOW_ASYNC_UNSAFE).
        env={
            **{k: v for k, v in CLEAN.items() if k in ("PATH", "HOME", "LANG", "TMPDIR")},
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        },
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (1 silenced)" in result.stdout, result.stdout


def test_make_lint_runs_the_deploy_check_and_fails_on_unformatted_code() -> None:
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile.split("\nlint:", 1)[1].split("\n\n", 1)[0]
    assert "check-deploy" in lint.split("\n", 1)[0]
    assert "ruff format --check ." in lint and "|| true" not in lint
    assert "manage.py check --deploy --fail-level WARNING" in makefile
    assert "make check-deploy" in (ROOT / ".ci" / "run").read_text()


def test_env_example_documents_every_name_and_holds_no_secret() -> None:
    import re

    example = (ROOT / ".env.example").read_text()
    listed = dict(re.findall(r"^#?([A-Z][A-Z0-9_]+)=(.*)$", example, flags=re.M))
    sources = "\n".join(p.read_text() for p in (ROOT / "config" / "settings").glob("*.py"))
    read = set(re.findall(r'env(?:\.[a-z]+)?\(\s*"([A-Z][A-Z0-9_]+)"', sources))
    read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", (ROOT / "bin" / "start").read_text()))
    read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", (ROOT / "docker-compose.yml").read_text()))
    read -= {"PYTHON"}  # bin/start's interpreter, set by make run / the image
    assert read, "no setting names found"
    assert sorted(read - set(listed)) == []
    for secret in (
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEYS",
        "POSTGRES_PASSWORD",
        "MQTT_PASSWORD",
        "POSTER_APP_SECRET",
        "TMETR_TOKEN",
    ):
        assert listed[secret].strip() == "", secret


def test_makemigrations_needs_no_secrets_but_migrate_still_refuses_without_them() -> None:
    """makemigrations only writes source files: a newcomer's bare `manage.py makemigrations` works.
    Commands that can run in production keep refusing to start without SECRET_KEY."""
    env = {**CLEAN, "DATABASE_URL": "postgres://nobody@127.0.0.1:1/none"}  # no database is needed
    check = [sys.executable, "manage.py", "makemigrations", "--check", "--dry-run"]
    result = subprocess.run(check, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "No changes detected" in result.stdout, result.stderr[-2000:]
    migrate = [sys.executable, "manage.py", "migrate", "--plan"]
    result = subprocess.run(migrate, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and "SECRET_KEY must be set" in result.stderr
