"""eMAG callbacks moved onto core.inbox: existing rows get the status their fields meant."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.support.migrations import latest_nodes
from tests.support.migrations import migrate_to as _migrate

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_0003_derives_the_callbacks_status_from_processed_at_and_last_error(make_account) -> None:
    account_id = make_account().pk
    latest = latest_nodes()
    try:
        old = _migrate([("marketplaces_emag", "0002_verbose_names")])
        Callback = old.get_model("marketplaces_emag", "EmagCallback")
        Callback.objects.create(account_id=account_id, emag_order_id=1, processed_at=timezone.now())
        Callback.objects.create(account_id=account_id, emag_order_id=2, last_error="EmagServerError: 500")
        Callback.objects.create(account_id=account_id, emag_order_id=3)
        new = _migrate([("marketplaces_emag", "0003_emagcallback_on_core_inbox")])
        Callback = new.get_model("marketplaces_emag", "EmagCallback")
        got = {
            c.emag_order_id: (c.status, c.attempts, c.next_attempt_at is not None, c.payload)
            for c in Callback.objects.all()
        }
        assert got == {
            1: ("processed", 0, False, {"order_id": 1}),
            2: ("retry", 1, True, {"order_id": 2}),  # the old sweep ran it again: due at once
            3: ("received", 0, False, {"order_id": 3}),
        }
    finally:
        _migrate(latest)
