"""REL-3 for the Poster API with data behind it: generated (valid and invalid) requests to every
/api/v1/poster operation, as an owner whose account is synced, never get a 5xx."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from poster_sync.models import WebhookLog
from poster_sync.services import sync
from tests.factories import owner_client
from tests.test_api_fuzz import DERANDOMIZE, MAX_EXAMPLES, _check, api_schema  # noqa: F401 (fixture)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_no_server_error_in_the_poster_api(api_schema: Any, poster, make_account) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    client, _, merchant = owner_client()
    account = make_account(merchant)
    for entity in sync.ENTITY_NAMES:
        sync.entity_sync(run=sync.run_enqueue(account=account, entity=entity, mode="force"))
    WebhookLog.objects.create(
        account=account,
        account_name=account.account,
        object="ingredient",
        object_id="1",
        action="changed",
        signature_valid=True,
        delivery_key="fuzz",
    )
    headers = {"Authorization": client._credentials["HTTP_AUTHORIZATION"]}
    operations = [r.ok() for r in api_schema.get_all_operations() if r.ok().path.startswith("/api/v1/poster")]
    assert len(operations) >= 15, [op.path for op in operations]
    for operation in operations:

        @settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=DERANDOMIZE,
        )
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            _check(case, headers)

        run()
