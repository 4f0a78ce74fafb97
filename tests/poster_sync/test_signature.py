"""The ``verify`` signature exactly as API_CONTRACTS.md states it, and the webhook's answers (POS-4, REL-2).

Expected digests are computed here from the contract's formula with hashlib, never by our code.
"""

from __future__ import annotations

import hashlib
import json
from urllib.parse import urlencode

import pytest

from poster_sync.models import Ingredient, WebhookLog, WebhookStatus
from poster_sync.services.sync import ENTITIES
from poster_sync.services.webhooks import Delivery, signature_valid, webhook_process

pytestmark = pytest.mark.django_db

SECRET = "0123456789abcdef0123456789abcdef"


def contract_md5(*parts: str) -> str:
    return hashlib.md5(";".join(parts).encode()).hexdigest()


def test_signature_without_data_matches_the_contract_vector() -> None:
    expected = contract_md5("cafe", "ingredient", "1", "changed", "1518794257", SECRET)
    # md5("cafe;ingredient;1;changed;1518794257;0123456789abcdef0123456789abcdef"), computed once by hand.
    assert expected == "8f5cd5041107f73bae74f9de061e6e5d"
    delivery = Delivery(
        account="cafe", object="ingredient", object_id="1", action="changed", time="1518794257", verify=expected
    )
    assert signature_valid(delivery=delivery, secret=SECRET)
    assert not signature_valid(delivery=delivery, secret=SECRET + "x")


def test_signature_with_data_includes_the_raw_string_before_time() -> None:
    data = '{"value":"5","storage_id":1}'
    expected = contract_md5("cafe", "stock", "42", "changed", data, "1518794257", SECRET)
    assert expected == "a16b4a227020a0214f3ac4aced067625"
    with_data = Delivery(
        account="cafe", object="stock", object_id="42", action="changed", time="1518794257", verify=expected, data=data
    )
    assert signature_valid(delivery=with_data, secret=SECRET)
    # The same fields without data, or with data re-serialised differently, do not match.
    without = Delivery(
        account="cafe", object="stock", object_id="42", action="changed", time="1518794257", verify=expected
    )
    assert not signature_valid(delivery=without, secret=SECRET)
    spaced = Delivery(
        account="cafe",
        object="stock",
        object_id="42",
        action="changed",
        time="1518794257",
        verify=expected,
        data='{"value": "5", "storage_id": 1}',
    )
    assert not signature_valid(delivery=spaced, secret=SECRET)


def test_no_secret_configured_verifies_nothing() -> None:
    verify = contract_md5("cafe", "ingredient", "1", "changed", "1", "")
    delivery = Delivery(account="cafe", object="ingredient", object_id="1", action="changed", time="1", verify=verify)
    assert not signature_valid(delivery=delivery, secret="")


def body(
    poster,
    *,
    object="ingredient",
    object_id=1,
    action="changed",
    time="1700000000",
    data=None,  # type: ignore[no-untyped-def]
    secret=None,
    account="sandbox-coffee",
):
    parts = [
        account,
        object,
        str(object_id),
        action,
        *([data] if data is not None else []),
        time,
        secret or poster.secret,
    ]
    out = {
        "account": account,
        "account_number": "100001",
        "object": object,
        "object_id": object_id,
        "action": action,
        "time": time,
        "verify": contract_md5(*parts),
    }
    if data is not None:
        out["data"] = data
    return out


def test_get_is_a_reachability_check(client) -> None:  # type: ignore[no-untyped-def]
    response = client.get("/webhooks/poster/")
    assert response.status_code == 200 and response.json() == {"status": "ok"}


def test_authentic_json_delivery_is_accepted_logged_and_enqueued(
    client,
    poster,
    make_account,  # type: ignore[no-untyped-def]
    django_capture_on_commit_callbacks,
) -> None:
    account = make_account()
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post("/webhooks/poster/", body(poster, object_id=3), content_type="application/json")
    assert response.status_code == 200 and response.json() == {"status": "accept"}
    entry = WebhookLog.objects.get()
    assert (entry.account, entry.object, entry.object_id, entry.action) == (account, "ingredient", "3", "changed")
    assert entry.signature_valid and entry.status == WebhookStatus.RECEIVED and len(callbacks) == 1
    assert webhook_process(log_id=entry.pk) == "ingredients 3 updated"
    entry.refresh_from_db()
    assert entry.status == WebhookStatus.PROCESSED and entry.attempts == 1
    ingredient = Ingredient.objects.get(account=account, poster_id=3)
    assert ingredient.name == poster.sim.catalogue()["ingredients"]["3"]["ingredient_name"]


def test_form_encoded_delivery_with_data_is_accepted(client, poster, make_account) -> None:  # type: ignore[no-untyped-def]
    make_account()
    data = json.dumps({"value": "2.5", "storage_id": "1"})
    fields = {k: str(v) for k, v in body(poster, object="stock", object_id=1, data=data).items()}
    response = client.post("/webhooks/poster/", urlencode(fields), content_type="application/x-www-form-urlencoded")
    assert response.status_code == 200 and response.json() == {"status": "accept"}
    entry = WebhookLog.objects.get()
    assert entry.signature_valid and entry.payload["data"] == data


def test_forged_delivery_is_403_logged_and_changes_nothing(
    client,
    poster,
    make_account,  # type: ignore[no-untyped-def]
    django_capture_on_commit_callbacks,
) -> None:
    make_account()
    forged = body(poster, object_id=2, secret="not-the-secret")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = client.post("/webhooks/poster/", forged, content_type="application/json")
    assert response.status_code == 403 and response.json()["error"]["code"] == "forbidden"
    entry = WebhookLog.objects.get()
    assert not entry.signature_valid and entry.status == WebhookStatus.REJECTED and entry.delivery_key is None
    assert callbacks == [] and not Ingredient.objects.exists()
    # Tampering with any signed field after signing is forged too.
    tampered = {**body(poster, object_id=2), "object_id": 5}
    assert client.post("/webhooks/poster/", tampered, content_type="application/json").status_code == 403


def test_replayed_delivery_is_stored_and_processed_once(
    client,
    poster,
    make_account,  # type: ignore[no-untyped-def]
    django_capture_on_commit_callbacks,
) -> None:
    make_account()
    delivery = body(poster, object_id=4)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        answers = [client.post("/webhooks/poster/", delivery, content_type="application/json") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert all(a.json() == {"status": "accept"} for a in answers)
    # Stored and processed once; the twins only mark the object again (they may be a second change
    # within the same second: Poster's body would be the same), read by the reader already queued.
    assert WebhookLog.objects.count() == 1 and len(callbacks) == 1
    entry = WebhookLog.objects.get()
    webhook_process(log_id=entry.pk)
    assert webhook_process(log_id=entry.pk) == "not due"  # a redelivered task message changes nothing
    entry.refresh_from_db()
    assert entry.attempts == 1


def test_unknown_account_or_object_is_authentic_logged_and_ignored(client, poster, make_account) -> None:  # type: ignore[no-untyped-def]
    make_account()
    stranger = body(poster, account="other-cafe")
    product = body(poster, object="product", object_id=9)
    for delivery in (stranger, product):
        response = client.post("/webhooks/poster/", delivery, content_type="application/json")
        assert response.status_code == 200 and response.json() == {"status": "accept"}
    assert set(WebhookLog.objects.values_list("status", flat=True)) == {WebhookStatus.IGNORED}


@pytest.mark.parametrize(
    "payload, content_type, status",
    [
        (b"not json", "application/json", 400),
        (b"[1, 2]", "application/json", 400),
        (b'{"account": "a"}', "application/json", 400),
        (
            b'{"account": "a", "object": "ingredient", "object_id": true, "action": "changed", '
            b'"time": "1", "verify": "x"}',
            "application/json",
            400,
        ),
        (b"[" * 5000 + b"]" * 5000, "application/json", 400),
        (b'{"account": ' + b"[" * 40 + b"]" * 40 + b"}", "application/json", 400),
        (
            b'{"account": "a\\u0000", "object": "x", "object_id": 1, "action": "c", "time": "1", "verify": "x"}',
            "application/json",
            400,
        ),
        # Complete fields plus a number jsonb cannot hold: stored (even as forged) it would be a late 500.
        (
            b'{"account": "a", "object": "ingredient", "object_id": 1, "action": "changed", "time": "1", '
            b'"verify": "x", "extra": 1e400}',
            "application/json",
            400,
        ),
        (
            b'{"account": "a", "object": "ingredient", "object_id": 1, "action": "changed", "time": "1", '
            b'"verify": "x", "extra": NaN}',
            "application/json",
            400,
        ),
        (
            b'{"account": "a\\ud800", "object": "ingredient", "object_id": 1, "action": "changed", "time": "1", '
            b'"verify": "x"}',
            "application/json",
            400,
        ),
        (b"x" * 70_000, "application/json", 413),
        (b"\xff\xfe", "application/x-www-form-urlencoded", 400),
    ],
)
def test_malformed_bodies_get_a_4xx_never_a_500(client, poster, payload, content_type, status) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/webhooks/poster/", payload, content_type=content_type)
    assert response.status_code == status, response.content
    assert "error" in response.json()
    assert not WebhookLog.objects.exists()


def test_entities_cover_the_spec() -> None:
    assert set(ENTITIES) == {"suppliers", "ingredients", "storages", "categories", "ingredient_categories"}
