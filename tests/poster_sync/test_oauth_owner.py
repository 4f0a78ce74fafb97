"""An owner connects Poster without an admin session (SPEC POS-1, PLAT-4; issue 20 point 3): the API
answers the approval URL with a signed, expiring, single-use state naming the merchant, and the
callback needs no session and refuses a state that is forged, expired, reused, or whose user may not
connect that merchant. Likewise an owner retries a failed webhook delivery from the API."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
import time_machine
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import Membership
from poster_sync.models import PosterAccount, WebhookLog, WebhookStatus
from tests.factories import MembershipFactory, MerchantFactory

pytestmark = pytest.mark.django_db
CONNECT = "/api/v1/poster/accounts/connect/"


def api_for(user) -> APIClient:  # type: ignore[no-untyped-def]
    api = APIClient()
    api.force_authenticate(user)  # the owner API's own authentication; no Django session anywhere
    return api


def approve_at_poster(authorize_url: str, poster, account: str = "sandbox-coffee") -> str:  # type: ignore[no-untyped-def]
    """The owner approves on Poster's page; returns the callback path Poster sends the browser to."""
    query = parse_qs(urlsplit(authorize_url).query)
    approved = requests.post(
        f"{poster.api_url}/auth",
        allow_redirects=False,
        timeout=5,
        data={"redirect_uri": query["redirect_uri"][0], "state": query["state"][0], "account": account},
    )
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/poster/oauth/callback/"
    return f"{back.path}?{back.query}"


def start(user, poster, merchant: int | None = None) -> str:  # type: ignore[no-untyped-def]
    response = api_for(user).post(CONNECT, {} if merchant is None else {"merchant": merchant}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["expires_in"] == 600
    parts = urlsplit(body["authorize_url"])
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{poster.api_url}/auth"
    return approve_at_poster(body["authorize_url"], poster)


def with_state(callback: str, state: str) -> str:
    path, query = callback.split("?", 1)
    params = {k: v[0] for k, v in parse_qs(query).items()}
    params["state"] = state
    return f"{path}?{urlencode(params)}"


def test_an_owner_connects_poster_from_the_api_and_the_callback_needs_no_session(poster) -> None:  # type: ignore[no-untyped-def]
    membership = MembershipFactory(role=Membership.Role.OWNER)
    callback = start(membership.user, poster)
    done = Client().get(callback)  # a browser with no session at all
    assert done.status_code == 200 and b"Poster connected" in done.content
    account = PosterAccount.objects.get(account="sandbox-coffee")
    assert account.merchant == membership.merchant and account.source == PosterAccount.Source.OAUTH
    assert poster.sim.state["tokens"][str(account.access_token)] == "sandbox-coffee"


def test_a_manager_may_connect_too_and_names_the_merchant_when_there_are_several(poster) -> None:  # type: ignore[no-untyped-def]
    first = MembershipFactory(role=Membership.Role.MANAGER)
    second = MembershipFactory(user=first.user, role=Membership.Role.OWNER)
    several = api_for(first.user).post(CONNECT, {}, format="json")
    assert several.status_code == 400 and "merchant" in several.json()["error"]["fields"]
    assert Client().get(start(first.user, poster, merchant=second.merchant.pk)).status_code == 200
    assert PosterAccount.objects.get().merchant == second.merchant


def test_a_viewer_or_a_stranger_cannot_start_a_connection(poster) -> None:  # type: ignore[no-untyped-def]
    viewer = MembershipFactory(role=Membership.Role.VIEWER)
    assert api_for(viewer.user).post(CONNECT, {}, format="json").status_code == 403
    stranger = MembershipFactory(role=Membership.Role.OWNER)
    response = api_for(stranger.user).post(CONNECT, {"merchant": viewer.merchant.pk}, format="json")
    assert response.status_code == 404  # another merchant's: no existence leak
    assert APIClient().post(CONNECT, {}, format="json").status_code in (401, 403)


def test_a_forged_state_connects_nothing(poster) -> None:  # type: ignore[no-untyped-def]
    owner = MembershipFactory(role=Membership.Role.OWNER)
    callback = start(owner.user, poster)
    state = parse_qs(urlsplit(callback).query)["state"][0]
    tampered = state[:-3] + ("aaa" if not state.endswith("aaa") else "bbb")
    assert Client().get(with_state(callback, tampered)).status_code == 400
    # Another merchant cannot be written into a state by hand: the payload is signed as a whole.
    payload, _, signature = state.partition(":")
    assert Client().get(with_state(callback, f"{payload}x:{signature}")).status_code == 400
    assert Client().get(with_state(callback, "")).status_code == 400  # no state at all
    assert not PosterAccount.objects.exists()


def test_an_expired_state_connects_nothing(poster) -> None:  # type: ignore[no-untyped-def]
    owner = MembershipFactory(role=Membership.Role.OWNER)
    callback = start(owner.user, poster)
    with time_machine.travel(timezone.now() + timedelta(seconds=601), tick=False):
        response = Client().get(callback)
    assert response.status_code == 400 and b"expired" in response.content
    assert not PosterAccount.objects.exists()


def test_a_state_is_single_use(poster) -> None:  # type: ignore[no-untyped-def]
    owner = MembershipFactory(role=Membership.Role.OWNER)
    callback = start(owner.user, poster)
    assert Client().get(callback).status_code == 200
    PosterAccount.objects.all().delete()
    again = Client().get(callback)
    assert again.status_code == 400 and b"used already" in again.content
    assert not PosterAccount.objects.exists()


def test_a_state_whose_user_no_longer_owns_or_manages_the_merchant_is_refused(poster) -> None:  # type: ignore[no-untyped-def]
    owner = MembershipFactory(role=Membership.Role.OWNER)
    callback = start(owner.user, poster)
    Membership.objects.filter(pk=owner.pk).update(role=Membership.Role.VIEWER)  # demoted meanwhile
    response = Client().get(callback)
    assert response.status_code == 403 and not PosterAccount.objects.exists()
    removed = MembershipFactory(role=Membership.Role.MANAGER)
    callback = start(removed.user, poster)
    removed.delete()
    assert Client().get(callback).status_code == 403 and not PosterAccount.objects.exists()


def test_staff_keep_the_admin_way(poster, admin_client) -> None:  # type: ignore[no-untyped-def]
    merchant = MerchantFactory()
    start_page = admin_client.get(f"/poster/oauth/authorize/?merchant={merchant.pk}")
    assert start_page.status_code == 302
    done = admin_client.get(approve_at_poster(start_page["Location"], poster))
    assert done.status_code == 200 and b"Poster connected" in done.content
    assert PosterAccount.objects.get().merchant == merchant


def test_an_owner_retries_a_failed_delivery_from_the_api_as_staff_do_from_the_admin(  # type: ignore[no-untyped-def]
    poster, make_account, monkeypatch, django_capture_on_commit_callbacks
) -> None:
    owner = MembershipFactory(role=Membership.Role.OWNER)
    account = make_account(owner.merchant)
    failed = WebhookLog.objects.create(
        account=account,
        account_name=account.account,
        object="ingredient",
        object_id="3",
        action="changed",
        signature_valid=True,
        delivery_key="failed-1",
        status=WebhookStatus.FAILED,
        last_error="PosterError: error 500",
    )
    sent: list[tuple[int, ...]] = []
    monkeypatch.setattr("poster_sync.tasks.webhook_process.delay", lambda *a: sent.append(a))
    url = f"/api/v1/poster/webhook-logs/{failed.pk}/retry/"
    with django_capture_on_commit_callbacks(execute=True):
        response = api_for(owner.user).post(url)
    assert response.status_code == 202 and sent == [(failed.pk,)]
    failed.status = WebhookStatus.PROCESSED
    failed.save(update_fields=["status"])
    assert api_for(owner.user).post(url).status_code == 409  # only failed ones
    viewer = MembershipFactory(merchant=owner.merchant, role=Membership.Role.VIEWER)
    assert api_for(viewer.user).post(url).status_code == 403
    stranger = MembershipFactory(role=Membership.Role.OWNER)
    assert api_for(stranger.user).post(url).status_code == 404


def test_connect_without_a_poster_application_is_a_clear_409(poster, settings) -> None:  # type: ignore[no-untyped-def]
    owner = MembershipFactory(role=Membership.Role.OWNER)
    settings.POSTER_APP_SECRET = ""
    response = api_for(owner.user).post(CONNECT, {}, format="json")
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_configured"
