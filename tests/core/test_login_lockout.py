"""Password guessing meets a limit per account and per client address (SPEC PLAT-4, PLAT-13; django-axes)."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
import time_machine
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

TOKEN_URL = "/api/v1/auth/token/"
PASSWORD = "correct-horse-battery"


def _token(username: str, password: str, ip: str = "198.51.100.7") -> object:
    return APIClient(REMOTE_ADDR=ip).post(TOKEN_URL, {"username": username, "password": password}, format="json")


def test_sixty_guesses_on_the_token_endpoint_meet_the_limit(settings, caplog) -> None:
    UserFactory(username="olga", password=PASSWORD)
    caplog.set_level(logging.WARNING)
    statuses = [_token("olga", f"guess-{n}").status_code for n in range(60)]
    limit = settings.AXES_FAILURE_LIMIT
    assert statuses[: limit - 1] == [400] * (limit - 1)
    assert statuses[limit - 1 :] == [429] * (60 - limit + 1)
    locked = _token("olga", PASSWORD)  # the right password too, while locked out
    assert locked.status_code == 429
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()
    assert locked.json()["error"]["code"] == "throttled"
    assert "Locking out" in caplog.text  # every lockout is logged


def test_the_right_password_works_again_after_the_window(settings) -> None:
    UserFactory(username="olga", password=PASSWORD)
    for n in range(settings.AXES_FAILURE_LIMIT):
        _token("olga", f"guess-{n}")
    assert _token("olga", PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + settings.AXES_COOLOFF_TIME + timedelta(seconds=5), tick=False):
        response = _token("olga", PASSWORD)
    assert response.status_code == 200, response.content
    assert response.json()["token"]


def test_unknown_user_and_wrong_password_get_the_same_answer(settings) -> None:
    UserFactory(username="olga", password=PASSWORD)
    wrong, unknown = _token("olga", "wrong", ip="198.51.100.1"), _token("nobody", "wrong", ip="198.51.100.2")
    assert (wrong.status_code, wrong.json()) == (unknown.status_code, unknown.json())
    for n in range(settings.AXES_FAILURE_LIMIT):
        _token("olga", f"guess-{n}", ip="198.51.100.1")
        _token("nobody", f"guess-{n}", ip="198.51.100.2")
    wrong, unknown = _token("olga", "wrong", ip="198.51.100.1"), _token("nobody", "wrong", ip="198.51.100.2")
    assert wrong.status_code == unknown.status_code == 429
    assert wrong.json() == unknown.json() and wrong["Retry-After"] == unknown["Retry-After"]


def test_one_address_guessing_many_accounts_is_limited_other_addresses_are_not(settings) -> None:
    UserFactory(username="olga", password=PASSWORD)
    statuses = [_token(f"user-{n}", "guess", ip="203.0.113.5").status_code for n in range(60)]
    assert statuses[-1] == 429 and statuses.count(400) == settings.AXES_FAILURE_LIMIT - 1
    assert _token("olga", PASSWORD, ip="203.0.113.5").status_code == 429  # the address is locked out
    assert _token("olga", PASSWORD, ip="203.0.113.6").status_code == 200  # the account is not


def test_one_account_guessed_from_many_addresses_is_limited(settings) -> None:
    UserFactory(username="olga", password=PASSWORD)
    UserFactory(username="ivan", password=PASSWORD)
    statuses = [_token("olga", f"guess-{n}", ip=f"10.0.{n // 250}.{n % 250 + 1}").status_code for n in range(60)]
    assert statuses[-1] == 429 and statuses.count(400) == settings.AXES_FAILURE_LIMIT - 1
    assert _token("olga", PASSWORD, ip="192.0.2.1").status_code == 429  # the account is locked out
    assert _token("ivan", PASSWORD, ip="192.0.2.1").status_code == 200  # that address is not


def test_the_proxy_header_counts_only_when_the_proxy_is_trusted(settings) -> None:
    UserFactory(username="olga", password=PASSWORD)
    settings.AXES_FAILURE_LIMIT = 3

    def guess(forwarded: str) -> int:
        client = APIClient(REMOTE_ADDR="127.0.0.1", HTTP_X_FORWARDED_FOR=forwarded)
        return client.post(TOKEN_URL, {"username": f"u-{forwarded}", "password": "x"}, format="json").status_code

    # Untrusted: a header the client wrote changes nothing, every guess counts against 127.0.0.1.
    assert [guess(f"192.0.2.{n}") for n in range(4)][-1] == 429
    settings.TRUSTED_PROXY_COUNT = 1
    assert guess("192.0.2.200") == 400  # behind a trusted proxy each client is counted by itself


def test_admin_login_guessing_meets_the_limit_and_staff_see_it(settings) -> None:
    UserFactory(username="staff", password=PASSWORD, is_staff=True, is_superuser=True)
    browser = Client(REMOTE_ADDR="198.51.100.9")
    statuses = [
        browser.post("/admin/login/", {"username": "staff", "password": f"guess-{n}"}).status_code for n in range(60)
    ]
    assert statuses[0] == 200 and statuses[-1] == 429
    locked = browser.post("/admin/login/", {"username": "staff", "password": PASSWORD})
    assert locked.status_code == 429 and int(locked["Retry-After"]) > 0
    assert "Too many failed logins" in locked.content.decode()

    admin = Client()
    admin.force_login(UserFactory(username="other-staff", is_staff=True, is_superuser=True))
    attempts = admin.get("/admin/axes/accessattempt/")
    assert attempts.status_code == 200
    assert "198.51.100.9" in attempts.content.decode()
