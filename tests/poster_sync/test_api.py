"""Owner API of poster_sync: the exact status shape, queued syncs, 429 + Retry-After, owner isolation (POS-5, REL-5)."""

from __future__ import annotations

import pytest

from core.models import Membership
from poster_sync.models import Ingredient, WebhookLog
from poster_sync.services import sync
from tests.factories import owner_client

pytestmark = pytest.mark.django_db


def test_status_has_exactly_the_spec_shape(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    client, _, merchant = owner_client()
    account = make_account(merchant)
    response = client.get("/api/v1/poster/sync")
    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["status"]
    assert set(body["status"]) == {"suppliers", "ingredients", "storages", "categories", "ingredient_categories"}
    for value in body["status"].values():
        assert value == {"lastSyncAt": None, "needsSync": True, "age": None}
    run = sync.run_enqueue(account=account, entity="storages", mode="force")
    sync.entity_sync(run=run)
    storages = client.get("/api/v1/poster/sync").json()["status"]["storages"]
    assert set(storages) == {"lastSyncAt", "needsSync", "age"}
    assert storages["needsSync"] is False and storages["age"] == 0 and storages["lastSyncAt"].endswith("Z")


def test_post_sync_queues_runs_and_a_repeat_is_429_with_retry_after(
    poster,
    make_account,  # type: ignore[no-untyped-def]
    django_capture_on_commit_callbacks,
) -> None:
    client, _, merchant = owner_client()
    make_account(merchant)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            "/api/v1/poster/sync", {"entities": ["suppliers", "ingredients"], "force": True}, format="json"
        )
    assert response.status_code == 202, response.content
    runs = response.json()["runs"]
    assert set(runs) == {"suppliers", "ingredients"} and all(isinstance(v, int) for v in runs.values())
    assert len(callbacks) == 2
    again = client.post("/api/v1/poster/sync", {"entities": ["suppliers"], "force": True}, format="json")
    assert again.status_code == 429
    assert 1 <= int(again["Retry-After"]) <= 60
    assert again.json()["error"]["code"] == "rate_limited"


def test_post_sync_rejects_unknown_entities_and_viewers(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    client, _, merchant = owner_client()
    make_account(merchant)
    bad = client.post("/api/v1/poster/sync", {"entities": ["products"]}, format="json")
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "validation_error"
    assert client.post("/api/v1/poster/sync", {"force": "maybe"}, format="json").status_code == 400
    viewer, _, _ = owner_client(merchant, role=Membership.Role.VIEWER)
    assert viewer.get("/api/v1/poster/sync").status_code == 200
    assert viewer.post("/api/v1/poster/sync", {}, format="json").status_code == 403


def test_owners_see_only_their_merchants_poster_data(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    client_a, _, merchant_a = owner_client()
    client_b, _, merchant_b = owner_client()
    account_a = make_account(merchant_a)
    account_b = make_account(merchant_b, name="second-cafe")
    for account in (account_a, account_b):
        sync.entity_sync(run=sync.run_enqueue(account=account, entity="ingredients", mode="force"))
        WebhookLog.objects.create(
            account=account,
            account_name=account.account,
            object="ingredient",
            object_id="1",
            action="changed",
            signature_valid=True,
            delivery_key=f"key-{account.pk}",
        )
    own = client_a.get("/api/v1/poster/ingredients/").json()
    assert own["count"] == 12 and {row["account"] for row in own["results"]} == {account_a.pk}
    foreign = Ingredient.objects.filter(account=account_b).first()
    assert client_a.get(f"/api/v1/poster/ingredients/{foreign.pk}/").status_code == 404
    logs = client_a.get("/api/v1/poster/webhook-logs/").json()
    assert [row["account"] for row in logs["results"]] == [account_a.pk]
    accounts = client_a.get("/api/v1/poster/accounts/").json()["results"]
    assert [row["id"] for row in accounts] == [account_a.pk] and "access_token" not in accounts[0]
    assert client_a.get("/api/v1/poster/sync", {"account": account_b.pk}).status_code == 404
    assert client_a.post("/api/v1/poster/sync", {"account": account_b.pk}, format="json").status_code == 404
    assert client_b.get(f"/api/v1/poster/ingredients/{foreign.pk}/").status_code == 200


def test_no_account_is_a_clear_404_and_removed_filter_works(poster, make_account) -> None:  # type: ignore[no-untyped-def]
    client, _, merchant = owner_client()
    response = client.get("/api/v1/poster/sync")
    assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
    account = make_account(merchant)
    sync.entity_sync(run=sync.run_enqueue(account=account, entity="ingredients", mode="force"))
    poster.sim.change("ingredient", 4, action="removed", send=False)
    sync.entity_sync(run=sync.run_enqueue(account=account, entity="ingredients", mode="force"))
    removed = client.get("/api/v1/poster/ingredients/", {"removed": "true"}).json()
    assert [row["poster_id"] for row in removed["results"]] == [4]
    assert client.get("/api/v1/poster/ingredients/", {"removed": "false"}).json()["count"] == 11
