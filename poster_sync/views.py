"""Poster OAuth connect flow (SPEC POS-1): start → Poster → /poster/oauth/callback/.

Owners start from the API (``POST /api/v1/poster/accounts/connect/`` answers the URL to open);
staff from the admin at ``/poster/oauth/authorize/?merchant=<id>``. Either way the merchant and
the user ride in a signed, expiring, single-use ``state`` (``services.accounts``), so the callback
needs no session: it connects only what a valid state vouches for, and says why otherwise.
"""

from __future__ import annotations

import logging

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET

from .services.accounts import (
    ConnectError,
    StateRefused,
    account_connect_oauth,
    merchants_connectable,
    oauth_redirect_uri,
    oauth_start,
    oauth_state_redeem,
)

log = logging.getLogger(__name__)


def _page(request: HttpRequest, title: str, text: str, status: int = 200, account_url: str = "") -> HttpResponse:
    return render(
        request,
        "poster_sync/oauth_result.html",
        {"title": title, "text": text, "account_url": account_url},
        status=status,
    )


def callback_url(request: HttpRequest) -> str:
    return oauth_redirect_uri(default=request.build_absolute_uri(reverse("poster-oauth-callback")))


@require_GET
@login_required(login_url="admin:login")
def authorize(request: HttpRequest) -> HttpResponse:
    merchants = merchants_connectable(user=request.user)
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
    try:
        url = oauth_start(user=request.user, merchant=merchant, redirect_uri=callback_url(request))
    except ConnectError as exc:
        return _page(request, "Poster is not configured", str(exc), status=503)
    return HttpResponseRedirect(url)


@require_GET
def callback(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", "")
    if not state:
        return _page(request, "Nothing to connect", "Start connecting Poster again.", status=400)
    try:
        grant = oauth_state_redeem(state=state)
    except StateRefused as exc:
        return _page(request, "Connection refused", str(exc), status=403 if exc.forbidden else 400)
    code, account_name = request.GET.get("code", ""), request.GET.get("account", "")
    if not code or not account_name:
        error = request.GET.get("error", "")
        return _page(
            request,
            "Poster did not authorise the connection",
            f"Poster answered without a code{': ' + error[:200] if error else ''}.",
            status=400,
        )
    try:
        account = account_connect_oauth(
            merchant=grant.merchant, account_name=account_name, code=code, redirect_uri=grant.redirect_uri
        )
    except ConnectError as exc:
        return _page(request, "Poster connection failed", str(exc), status=400)
    url = reverse("admin:poster_sync_posteraccount_change", args=[account.pk]) if request.user.is_staff else ""
    return _page(
        request,
        "Poster connected",
        f"Account “{account.account}” is connected to {grant.merchant}. Its catalogue syncs nightly; "
        "start a sync now from the admin or POST /api/v1/poster/sync.",
        account_url=url,
    )
