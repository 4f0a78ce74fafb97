from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from core.models import Membership, SyncRun
from core.services import sync_run_progress
from tests.factories import MerchantFactory, owner_client

pytestmark = pytest.mark.django_db


def _run(merchant: object, kind: str = "vending.transactions") -> SyncRun:
    return SyncRun.objects.create(merchant=merchant, kind=kind)


def test_owner_sees_only_own_merchants_runs() -> None:
    client_a, _, merchant_a = owner_client()
    merchant_b = MerchantFactory()
    own, foreign = _run(merchant_a), _run(merchant_b)

    listed = client_a.get("/api/v1/sync-runs/").json()
    assert [row["id"] for row in listed["results"]] == [own.pk]
    assert client_a.get(f"/api/v1/sync-runs/{own.pk}/").status_code == 200
    response = client_a.get(f"/api/v1/sync-runs/{foreign.pk}/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_member_of_two_merchants_sees_both_but_not_a_third() -> None:
    client, user, merchant_a = owner_client()
    merchant_b, merchant_c = MerchantFactory(), MerchantFactory()
    Membership.objects.create(user=user, merchant=merchant_b, role=Membership.Role.VIEWER)
    runs = {_run(merchant_a).pk, _run(merchant_b).pk}
    _run(merchant_c)
    listed = {row["id"] for row in client.get("/api/v1/sync-runs/").json()["results"]}
    assert listed == runs


def test_filter_by_kind_prefix() -> None:
    client, _, merchant = owner_client()
    vending = _run(merchant, "vending.transactions")
    _run(merchant, "poster.ingredients")
    listed = client.get("/api/v1/sync-runs/", {"kind": "vending"}).json()["results"]
    assert [row["id"] for row in listed] == [vending.pk]


def test_anonymous_gets_401_in_the_error_format() -> None:
    response = APIClient().get("/api/v1/sync-runs/")
    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "not_authenticated"
    assert body["error"]["message"]


def test_token_endpoint_and_me() -> None:
    from tests.factories import UserFactory

    UserFactory(username="olga", password="correct-horse-battery")
    client = APIClient()
    bad = client.post("/api/v1/auth/token/", {"username": "olga", "password": "wrong"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "validation_error"
    token = client.post(
        "/api/v1/auth/token/", {"username": "olga", "password": "correct-horse-battery"}, format="json"
    ).json()["token"]
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/v1/me/").json()["username"] == "olga"


def test_unknown_api_path_is_json_404() -> None:
    client, _, _ = owner_client()
    response = client.get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_sync_run_progress_in_api() -> None:
    client, _, merchant = owner_client()
    run = _run(merchant)
    sync_run_progress(run=run, done=25, total=100)
    sync_run_progress(run=run, done=25)
    body = client.get(f"/api/v1/sync-runs/{run.pk}/").json()
    assert (body["items_done"], body["items_total"], body["progress_percent"]) == (50, 100, 50.0)
