"""Logins (SPEC PLAT-4, PLAT-13): the lockout answer of django-axes, the token login of the owner API,
and the admin's second factor.

django-axes counts failed logins per username and per client address (settings/security.py). A
locked-out login gets the same answer whether the username exists or not, and so does a wrong
password: nothing tells a guesser which usernames are real.
"""

from __future__ import annotations

import base64
import logging
import math
from dataclasses import dataclass
from typing import Any

from axes.helpers import get_cool_off
from django.conf import settings
from django.contrib.admin import AdminSite
from django.contrib.admin.forms import AdminAuthenticationForm
from django.db import transaction
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.html import format_html
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.admin import OTPAdminAuthenticationForm

from core.api.errors import error_body
from core.models import User

log = logging.getLogger("core.auth")

LOCKED_MESSAGE = _("Too many failed logins. Try again later.")


def client_str(username: str | None, ip_address: str, user_agent: str, path_info: Any, request: Any) -> str:
    """How django-axes names a client in its log lines: values from outside escaped and cut."""
    path = path_info[0] if isinstance(path_info, (tuple, list)) else path_info
    return f"{{username={username!r:.66}, ip={ip_address!r:.48}, path={path!r:.66}}}"


def proper_capfirst(text: Any) -> str:
    """``capfirst`` that leaves a brand in mixed case alone: "eMAG accounts", not "EMAG accounts"."""
    text = str(text)
    first = text.split(" ", 1)[0]
    return text if first[1:] != first[1:].lower() else capfirst(text)


def lockout_seconds(request: HttpRequest | None = None) -> int:
    """How long a lockout lasts from the failure just made (a failure while locked out restarts it)."""
    cool_off = get_cool_off(request)
    return max(1, math.ceil(cool_off.total_seconds())) if cool_off else 0


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None = None, credentials: dict[str, Any] | None = None
) -> HttpResponse:
    """django-axes' answer to a locked-out login (AXES_LOCKOUT_CALLABLE): 429 with Retry-After."""
    seconds = lockout_seconds(request)
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse(error_body("throttled", str(LOCKED_MESSAGE)), status=429)
    else:
        response = HttpResponse(
            format_html(
                "<!doctype html><title>{}</title><h1>{}</h1><p>{} {}</p>",
                gettext("Too many failed logins"),
                gettext("Too many failed logins"),
                LOCKED_MESSAGE,
                gettext("Sign-in is possible again %(minutes)s minutes after the last failed attempt.")
                % {"minutes": math.ceil(seconds / 60)},
            ),
            status=429,
        )
    if seconds:
        response["Retry-After"] = str(seconds)
    return response


class AdminSiteWithOTP(AdminSite):
    """The admin, with a second factor when ``ADMIN_REQUIRE_OTP`` is on (the default when DEBUG is off).

    A staff member then signs in with password + a code from a TOTP device or a recovery code
    (django-otp; enrol with ``manage.py otp_enrol``), and a session without that verification is
    treated as not staff. Read at each request, so a test can prove both sides with one setting.
    """

    def has_permission(self, request: HttpRequest) -> bool:
        if not super().has_permission(request):
            return False
        return not settings.ADMIN_REQUIRE_OTP or bool(request.user.is_verified())  # type: ignore[union-attr]

    # Properties, not per-request assignments: one site instance serves every thread.
    def _build_app_dict(self, request: HttpRequest, label: Any = None) -> dict[str, Any]:
        """Django capitalises model names on the index ("EMAG accounts"); a name that starts with a brand
        written in mixed case ("eMAG accounts") keeps its spelling (SPEC OWN-5)."""
        app_dict: dict[str, Any] = super()._build_app_dict(request, label) or {}
        for app in [app_dict] if "models" in app_dict else app_dict.values():
            for model in app.get("models", []):
                model["name"] = proper_capfirst(model["model"]._meta.verbose_name_plural)
        return app_dict

    @property
    def login_form(self) -> type[AdminAuthenticationForm]:  # type: ignore[override]
        return OTPAdminAuthenticationForm if settings.ADMIN_REQUIRE_OTP else AdminAuthenticationForm

    @property
    def login_template(self) -> str | None:  # type: ignore[override]
        return "otp/admin111/login.html" if settings.ADMIN_REQUIRE_OTP else None


class AlreadyEnrolled(Exception):
    """The user has a TOTP device; pass ``reset=True`` to replace it (a lost phone)."""


@dataclass(frozen=True)
class Enrolment:
    config_url: str  # otpauth://… for an authenticator app (as a QR code or typed in)
    secret_base32: str
    recovery_codes: list[str]


@transaction.atomic
def staff_otp_enrol(*, user: User, reset: bool = False, recovery_codes: int = 10) -> Enrolment:
    """Give ``user`` a TOTP device and single-use recovery codes. ``reset`` first removes every device
    the user had (recovery: a lost phone, used-up codes); without it an enrolled user is refused."""
    from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
    from django_otp.plugins.otp_totp.models import TOTPDevice

    if reset:
        TOTPDevice.objects.filter(user=user).delete()
        StaticDevice.objects.filter(user=user).delete()
    elif TOTPDevice.objects.filter(user=user).exists():
        raise AlreadyEnrolled(f"user {user.get_username()} already has an authenticator; use --reset to replace it")
    device = TOTPDevice.objects.create(user=user, name="authenticator", confirmed=True)
    static = StaticDevice.objects.create(user=user, name="recovery codes", confirmed=True)
    codes = [StaticToken.random_token() for _ in range(recovery_codes)]
    StaticToken.objects.bulk_create([StaticToken(device=static, token=code) for code in codes])
    log.info("second factor enrolled for user %s (reset=%s)", user.pk, reset)
    return Enrolment(
        config_url=device.config_url,
        secret_base32=base64.b32encode(device.bin_key).decode(),
        recovery_codes=codes,
    )
