"""Poster's webhook log moved onto core.inbox: existing rows keep their meaning (migrate back, seed
old-shaped rows, migrate forward)."""

from __future__ import annotations

import pytest

from tests.support.migrations import latest_nodes
from tests.support.migrations import migrate_to as _migrate

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_0004_turns_the_retry_error_string_into_a_retry_status(settings) -> None:
    latest = latest_nodes()
    try:
        old = _migrate([("poster_sync", "0003_verbose_names")])
        Log = old.get_model("poster_sync", "WebhookLog")
        lost = "worker lost while processing"
        rows = {
            "lost": Log.objects.create(delivery_key="lost", status="failed", error=lost, attempts=1),
            "spent": Log.objects.create(
                delivery_key="spent", status="failed", error=lost, attempts=settings.POSTER_WEBHOOK_MAX_ATTEMPTS
            ),
            "final": Log.objects.create(delivery_key="final", status="failed", error="PosterError: 500", attempts=1),
            "done": Log.objects.create(delivery_key="done", status="processed", error="ingredients 1 updated"),
        }
        new = _migrate([("poster_sync", "0004_webhooklog_on_core_inbox")])
        Log = new.get_model("poster_sync", "WebhookLog")
        got = {
            key: (row.status, row.last_error, row.next_attempt_at is not None)
            for key in rows
            for row in [Log.objects.get(delivery_key=key)]
        }
        assert got == {
            "lost": ("retry", lost, True),  # the old sweep would have run it again: due at once
            "spent": ("failed", lost, False),  # no attempts left: stays failed
            "final": ("failed", "PosterError: 500", False),
            "done": ("processed", "ingredients 1 updated", False),
        }
    finally:
        _migrate(latest)
