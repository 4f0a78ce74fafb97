"""Staff who can move money (the admin refunds) sign in with a second factor (SPEC PLAT-4; django-otp).

The test settings turn ADMIN_REQUIRE_OTP off for the other admin tests; tests/core/test_abuse_settings.py
proves production turns it on, and these tests prove what it enforces when on.
"""

from __future__ import annotations

import re

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.auth import staff_otp_enrol
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


@pytest.fixture
def otp_on(settings) -> None:
    settings.ADMIN_REQUIRE_OTP = True


def _code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits):0{device.digits}d}"


def _login(client: Client, username: str, device_id: str = "", token: str = "") -> object:
    data = {"username": username, "password": PASSWORD, "otp_device": device_id, "otp_token": token, "next": "/admin/"}
    return client.post("/admin/login/?next=/admin/", data)


def test_a_password_alone_does_not_open_the_admin(otp_on) -> None:
    staff = UserFactory(username="staff", password=PASSWORD, is_staff=True, is_superuser=True)
    staff_otp_enrol(user=staff)
    client = Client()
    response = _login(client, "staff")
    assert response.status_code == 200  # the login page again, asking for the code
    assert 'name="otp_token"' in response.content.decode()
    assert client.get("/admin/").status_code == 302


def test_a_session_without_the_second_factor_is_not_staff(otp_on) -> None:
    client = Client()
    client.force_login(UserFactory(username="staff", is_staff=True, is_superuser=True))
    response = client.get("/admin/payments/refund/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_password_and_totp_code_open_the_admin(otp_on) -> None:
    staff = UserFactory(username="staff", password=PASSWORD, is_staff=True, is_superuser=True)
    staff_otp_enrol(user=staff)
    device = TOTPDevice.objects.get(user=staff)
    client = Client()
    wrong = _login(client, "staff", device.persistent_id, "000000" if _code(device) != "000000" else "111111")
    assert wrong.status_code == 200 and client.get("/admin/").status_code == 302
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # django-otp slows code guessing down too
    device.throttle_reset()
    ok = _login(client, "staff", device.persistent_id, _code(device))
    assert ok.status_code == 302, ok.content.decode()[-2000:]
    assert client.get("/admin/").status_code == 200


def test_a_recovery_code_works_once(otp_on) -> None:
    staff = UserFactory(username="staff", password=PASSWORD, is_staff=True, is_superuser=True)
    codes = staff_otp_enrol(user=staff, recovery_codes=2).recovery_codes
    recovery = StaticDevice.objects.get(user=staff).persistent_id
    first = Client()
    assert _login(first, "staff", recovery, codes[0]).status_code == 302
    assert first.get("/admin/").status_code == 200
    again = Client()
    assert _login(again, "staff", recovery, codes[0]).status_code == 200
    assert again.get("/admin/").status_code == 302


def test_without_the_setting_the_password_is_enough(settings) -> None:
    settings.ADMIN_REQUIRE_OTP = False
    UserFactory(username="staff", password=PASSWORD, is_staff=True, is_superuser=True)
    client = Client()
    assert _login(client, "staff").status_code == 302
    assert client.get("/admin/").status_code == 200


def test_enrol_command_prints_the_authenticator_link_and_recovery_codes_and_resets(capsys) -> None:
    staff = UserFactory(username="staff", is_staff=True)
    call_command("otp_enrol", "staff", "--recovery-codes", "3")
    out = capsys.readouterr().out
    assert re.search(r"otpauth://totp/[^\s]*staff[^\s]*secret=", out)
    first_key = TOTPDevice.objects.get(user=staff).key
    with pytest.raises(CommandError, match="--reset"):
        call_command("otp_enrol", "staff")
    call_command("otp_enrol", "staff", "--reset")  # a lost phone: the old device and codes stop working
    assert TOTPDevice.objects.get(user=staff).key != first_key
    assert StaticDevice.objects.get(user=staff).token_set.count() == 10
    with pytest.raises(CommandError, match="no user"):
        call_command("otp_enrol", "nobody")
