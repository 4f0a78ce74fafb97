"""Test settings: the same code paths as production, pointed at the local services (the machine's, or the
embedded ones tests/bootstrap.py starts when DATABASE_URL / REDIS_URL / MQTT_URL are unset).

Each pytest-xdist worker gets its own Redis database so that the Celery workers, limiters and
caches started by one test process never see another's messages.
"""

from __future__ import annotations

import os
import secrets
from urllib.parse import urlsplit, urlunsplit

from cryptography.fernet import Fernet

# DEBUG off, as in production: the tests run the production code paths (the default is off too;
# tests/core/test_settings.py proves it). Only HTTPS is left out: test servers speak plain HTTP on
# loopback (set here, so the servers the tests start inherit it).
os.environ.setdefault("DEBUG", "0")
for _name in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
    os.environ.setdefault(_name, "0")
os.environ.setdefault("SECURE_HSTS_SECONDS", "0")
# Two production defaults the test servers cannot meet: the admin's second factor (tests log in with a
# password or force_login) and YooKassa's sender addresses (simulators post from 127.0.0.1). Both are
# proven on in production and enforced when on by tests/core/test_abuse_settings.py and
# tests/core/test_admin_otp.py, tests/payments/test_webhook_abuse.py.
os.environ.setdefault("ADMIN_REQUIRE_OTP", "0")
os.environ.setdefault("YOOKASSA_CHECK_IP", "0")
# Fresh keys per test process (inherited by the workers it starts); none is written anywhere.
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("FIELD_ENCRYPTION_KEYS", Fernet.generate_key().decode())


def _worker_redis_url(url: str) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    index = int(worker[2:]) if worker[2:].isdigit() else 0
    base = int(os.environ.get("TEST_REDIS_DB_BASE", "0"))
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{base + index}"))


_redis = _worker_redis_url(os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"))
os.environ["REDIS_URL"] = _redis
os.environ["CELERY_BROKER_URL"] = _redis
os.environ["CELERY_RESULT_BACKEND"] = _redis

from .base import *  # noqa: E402,F403

ALLOWED_HOSTS = ["*"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
HTTP_MAX_RETRIES = 3

# The simulators' app (management commands run_sandbox, sandbox_env) is under test too.
INSTALLED_APPS = [*(a for a in INSTALLED_APPS if a != "sandbox"), "sandbox", "tests.testapp"]  # noqa: F405
# The sandbox inboxes the alert tests start listen on loopback; tests/alerts/test_api.py proves that
# the production default (no host) refuses such a URL.
ALERTS_APPRISE_HOSTS = ["127.0.0.1", "localhost"]
