"""POS-1: connect a Poster account through OAuth; the token is stored encrypted and works."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection

from core.models import Membership
from poster_sync.models import PosterAccount
from poster_sync.services import sync
from tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def owner(client):  # type: ignore[no-untyped-def]
    membership = MembershipFactory(role=Membership.Role.OWNER)
    client.force_login(membership.user)
    return client, membership.merchant


def authorize(client, poster, account: str = "sandbox-coffee") -> str:  # type: ignore[no-untyped-def]
    """Our authorize page → the simulator's approval page → the callback URL Poster sends back."""
    start = client.get("/poster/oauth/authorize/")
    assert start.status_code == 302
    url = start["Location"]
    parts = urlsplit(url)
    query = parse_qs(parts.query)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == f"{poster.api_url}/auth"
    assert query["application_id"] == ["test-app"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == ["http://testserver/poster/oauth/callback/"]
    page = requests.get(url, timeout=5)
    assert page.status_code == 200 and "Allow" in page.text
    approved = requests.post(
        f"{poster.api_url}/auth",
        allow_redirects=False,
        timeout=5,
        data={"redirect_uri": query["redirect_uri"][0], "state": query["state"][0], "account": account},
    )
    assert approved.status_code == 302
    back = urlsplit(approved.headers["Location"])
    assert back.path == "/poster/oauth/callback/" and "code" in parse_qs(back.query)
    return f"{back.path}?{back.query}"


def test_oauth_connects_the_account_with_an_encrypted_working_token(owner, poster) -> None:  # type: ignore[no-untyped-def]
    client, merchant = owner
    callback = authorize(client, poster)
    done = client.get(callback)
    assert done.status_code == 200 and b"Poster connected" in done.content
    account = PosterAccount.objects.get(account="sandbox-coffee")
    assert account.merchant == merchant and account.source == PosterAccount.Source.OAUTH
    assert account.account_number == "100001" and str(account.access_token).startswith("100001:")
    assert poster.sim.state["tokens"][str(account.access_token)] == "sandbox-coffee"
    with connection.cursor() as cursor:
        cursor.execute("SELECT access_token FROM poster_sync_posteraccount WHERE id = %s", [account.pk])
        stored = cursor.fetchone()[0]
    assert str(account.access_token) not in stored
    run = sync.entity_sync(run=sync.run_enqueue(account=account, entity="suppliers", mode="force"))
    assert run.status == "succeeded" and run.items_done == 3
    # The code was single-use: the same callback again has nothing pending and connects nothing.
    assert client.get(callback).status_code == 400


def test_callback_with_a_foreign_state_or_without_a_pending_request_changes_nothing(owner, poster) -> None:  # type: ignore[no-untyped-def]
    client, _ = owner
    assert client.get("/poster/oauth/callback/?code=abc&account=sandbox-coffee").status_code == 400
    callback = authorize(client, poster)
    forged = callback.replace("state=", "state=x")
    assert client.get(forged).status_code == 400
    assert not PosterAccount.objects.exists()


def test_a_refused_code_exchange_is_a_friendly_error(owner, poster) -> None:  # type: ignore[no-untyped-def]
    client, _ = owner
    callback = authorize(client, poster)
    poster.sim.app_secret = "rotated-at-poster"
    response = client.get(callback)
    assert response.status_code == 400 and b"did not accept" in response.content
    assert not PosterAccount.objects.exists()


def test_oauth_needs_a_login_and_the_app_settings(client, poster, settings) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/poster/oauth/authorize/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    membership = MembershipFactory()
    client.force_login(membership.user)
    settings.POSTER_APP_SECRET = ""
    assert client.get("/poster/oauth/authorize/").status_code == 503
