"""The production settings (DEBUG off, nothing else set) turn on what the test settings turn off for
their loopback servers: the admin's second factor and YooKassa's sender check (SPEC PLAT-4, PAY-1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TURNED_OFF_FOR_TESTS = ["ADMIN_REQUIRE_OTP", "YOOKASSA_CHECK_IP", "DJANGO_SETTINGS_MODULE", "DEBUG"]


def _production(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in TURNED_OFF_FOR_TESTS}
    script = "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='config.settings.base'; django.setup()\n"
    result = subprocess.run(
        [sys.executable, "-c", script + "from django.conf import settings\n" + code],
        cwd=ROOT,
        env={**clean, "SECRET_KEY": "s" * 50, "FIELD_ENCRYPTION_KEYS": "k" * 44, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout.strip()


def test_production_defaults_require_the_second_factor_and_check_yookassa_senders() -> None:
    out = _production(
        "print(settings.ADMIN_REQUIRE_OTP, settings.YOOKASSA_CHECK_IP, settings.TRUSTED_PROXY_COUNT, "
        "settings.AXES_ENABLED, settings.REST_KNOX['TOKEN_TTL'].total_seconds() > 0)"
    )
    assert out == "True True 0 True True"


def test_development_turns_them_off() -> None:
    assert _production("print(settings.ADMIN_REQUIRE_OTP, settings.YOOKASSA_CHECK_IP)", DEBUG="1") == "False False"


def test_the_test_settings_turn_off_only_these_two() -> None:
    from django.conf import settings

    assert settings.DEBUG is False
    assert settings.ADMIN_REQUIRE_OTP is False and settings.YOOKASSA_CHECK_IP is False
    assert settings.AXES_ENABLED is True
