"""Poster OAuth connect flow (SPEC POS-1): /poster/oauth/authorize/ → Poster → /poster/oauth/callback/.

The signed-in user picks the merchant (one they own or manage; staff: any), a random ``state`` is
kept in the session, and Poster's code is exchanged for a token on return. A callback without a
pending authorisation of this session, or with a ``state`` that differs, changes nothing.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from core.models import Merchant
from core.selectors import merchants_for_user

from .services.accounts import ConnectError, account_connect_oauth, oauth_redirect_uri, oauth_start

log = logging.getLogger(__name__)
SESSION_KEY = "poster_oauth"


def _page(request: HttpRequest, title: str, text: str, status: int = 200, account_url: str = "") -> HttpResponse:
    return render(
        request,
        "poster_sync/oauth_result.html",
        {"title": title, "text": text, "account_url": account_url},
        status=status,
    )


def _merchants(request: HttpRequest) -> list[Merchant]:
    if request.user.is_staff:
        return list(Merchant.objects.all())
    return list(merchants_for_user(user=request.user, write=True))


@require_GET
@login_required(login_url="admin:login")
def authorize(request: HttpRequest) -> HttpResponse:
    merchants = _merchants(request)
    wanted = request.GET.get("merchant", "")
    if wanted:
        merchant = next((m for m in merchants if str(m.pk) == wanted), None)
    else:
        merchant = merchants[0] if len(merchants) == 1 else None
    if merchant is None:
        return _page(
            request,
            "Choose a merchant",
            "Open this page with ?merchant=<id> of a merchant you own or manage.",
            status=400,
        )
    redirect_uri = oauth_redirect_uri(default=request.build_absolute_uri(reverse("poster-oauth-callback")))
    try:
        url, state = oauth_start(redirect_uri=redirect_uri)
    except ConnectError as exc:
        return _page(request, "Poster is not configured", str(exc), status=503)
    request.session[SESSION_KEY] = {"state": state, "merchant": merchant.pk, "redirect_uri": redirect_uri}
    return HttpResponseRedirect(url)


@require_GET
@login_required(login_url="admin:login")
def callback(request: HttpRequest) -> HttpResponse:
    pending = request.session.pop(SESSION_KEY, None)
    if not isinstance(pending, dict):
        return _page(request, "Nothing to connect", "Start from the “Connect Poster” link again.", status=400)
    returned_state = request.GET.get("state")
    if returned_state is not None and returned_state != pending.get("state"):
        log.warning("Poster OAuth callback with a foreign state for user %s", request.user.pk)
        return _page(request, "Connection refused", "This answer does not belong to your request.", status=400)
    code, account_name = request.GET.get("code", ""), request.GET.get("account", "")
    if not code or not account_name:
        error = request.GET.get("error", "")
        return _page(
            request,
            "Poster did not authorise the connection",
            f"Poster answered without a code{': ' + error[:200] if error else ''}.",
            status=400,
        )
    merchant = next((m for m in _merchants(request) if m.pk == pending.get("merchant")), None)
    if merchant is None:
        return _page(request, "Connection refused", "You may no longer manage this merchant.", status=403)
    try:
        account = account_connect_oauth(
            merchant=merchant, account_name=account_name, code=code, redirect_uri=str(pending.get("redirect_uri", ""))
        )
    except ConnectError as exc:
        return _page(request, "Poster connection failed", str(exc), status=400)
    url = reverse("admin:poster_sync_posteraccount_change", args=[account.pk]) if request.user.is_staff else ""
    return _page(
        request,
        "Poster connected",
        f"Account “{account.account}” is connected to {merchant}. Its catalogue syncs nightly; "
        "start a sync now from the admin or POST /api/v1/poster/sync.",
        account_url=url,
    )
