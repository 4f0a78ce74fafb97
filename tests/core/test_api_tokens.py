"""Owner API tokens expire, are listed and revoked by their owner, one per client (SPEC PLAT-4, PLAT-8; knox)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.utils import timezone
from rest_framework.test import APIClient

from core.models import ApiToken
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery"


def _login(client: str = "default", username: str = "olga") -> dict:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": PASSWORD, "client": client}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def _as(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return client


def test_a_token_expires_and_is_then_a_401(settings) -> None:
    UserFactory(username="olga", password=PASSWORD)
    issued = _login()
    assert _as(issued["token"]).get("/api/v1/me/").status_code == 200
    ttl = settings.REST_KNOX["TOKEN_TTL"]
    with time_machine.travel(timezone.now() + ttl + timedelta(minutes=1), tick=False):
        response = _as(issued["token"]).get("/api/v1/me/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"
    assert not ApiToken.objects.exists()  # knox drops an expired token when it is presented


def test_tokens_are_stored_as_hashes_only() -> None:
    UserFactory(username="olga", password=PASSWORD)
    token = _login()["token"]
    stored = ApiToken.objects.get()
    assert token not in (stored.digest, stored.token_key) and stored.digest != token


def test_several_clients_each_have_a_token_listed_and_revocable_by_the_owner() -> None:
    UserFactory(username="olga", password=PASSWORD)
    UserFactory(username="ivan", password=PASSWORD)
    laptop, script = _login("laptop"), _login("ci-script")
    ivans = _login("laptop", username="ivan")
    listed = _as(laptop["token"]).get("/api/v1/auth/tokens/").json()
    assert sorted(row["client"] for row in listed) == ["ci-script", "laptop"]
    assert all("token" not in row and row["expiry"] for row in listed)
    assert ivans["id"] not in {row["id"] for row in listed}

    # Another user's token is not theirs to revoke.
    assert _as(laptop["token"]).delete(f"/api/v1/auth/tokens/{ivans['id']}/").status_code == 404
    assert _as(ivans["token"]).get("/api/v1/me/").status_code == 200

    assert _as(laptop["token"]).delete(f"/api/v1/auth/tokens/{script['id']}/").status_code == 204
    assert _as(script["token"]).get("/api/v1/me/").status_code == 401  # revoked → 401
    assert _as(laptop["token"]).get("/api/v1/me/").status_code == 200
    assert _as(laptop["token"]).delete(f"/api/v1/auth/tokens/{laptop['id']}/").status_code == 204  # log out
    assert _as(laptop["token"]).get("/api/v1/me/").status_code == 401


def test_a_new_login_of_the_same_client_replaces_its_token() -> None:
    UserFactory(username="olga", password=PASSWORD)
    first, second = _login("laptop"), _login("laptop")
    assert _as(first["token"]).get("/api/v1/me/").status_code == 401
    assert _as(second["token"]).get("/api/v1/me/").status_code == 200


def test_changing_the_password_revokes_every_token() -> None:
    user = UserFactory(username="olga", password=PASSWORD)
    tokens = [_login("laptop")["token"], _login("phone")["token"]]
    user.last_name = "Ivanova"
    user.save()  # other changes keep them
    assert all(_as(token).get("/api/v1/me/").status_code == 200 for token in tokens)
    user.set_password("another-long-passphrase")
    user.save()
    assert all(_as(token).get("/api/v1/me/").status_code == 401 for token in tokens)


def test_changepassword_command_revokes_the_tokens_too(monkeypatch) -> None:
    UserFactory(username="olga", password=PASSWORD)
    token = _login()["token"]
    monkeypatch.setattr("getpass.getpass", lambda *args, **kwargs: "another-long-passphrase")
    call_command("changepassword", "olga")
    assert _as(token).get("/api/v1/me/").status_code == 401


def test_a_bad_client_name_is_a_clear_400() -> None:
    UserFactory(username="olga", password=PASSWORD)
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": "olga", "password": PASSWORD, "client": "a b/c"}, format="json"
    )
    assert response.status_code == 400
    assert "client" in response.json()["error"]["fields"]
