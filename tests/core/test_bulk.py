"""core.bulk.rows_update: many rows, each its own values, one statement (PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import DataError, connection, transaction
from django.test.utils import CaptureQueriesContext

from core.bulk import rows_update
from core.models import SyncRun
from tests.factories import MerchantFactory

pytestmark = pytest.mark.django_db


def _runs(count: int) -> list[SyncRun]:
    merchant = MerchantFactory()
    return [SyncRun.objects.create(merchant=merchant, kind=f"test.{i}") for i in range(count)]


def test_each_row_gets_its_own_values_in_one_statement() -> None:
    first, second, untouched = _runs(3)
    when = datetime(2026, 12, 6, 12, 30, tzinfo=UTC)
    rows = [
        (first.pk, {"status": "running", "started_at": when, "items_total": 7, "counters": {"a": 1}}),
        (second.pk, {"status": "failed", "started_at": None, "items_total": None, "counters": ["x", None]}),
    ]

    with CaptureQueriesContext(connection) as queries:
        updated = rows_update(SyncRun, rows, ["status", "started_at", "items_total", "counters"])

    assert updated == 2
    assert len(queries) == 1
    first.refresh_from_db()
    second.refresh_from_db()
    untouched.refresh_from_db()
    assert (first.status, first.started_at, first.items_total, first.counters) == ("running", when, 7, {"a": 1})
    assert (second.status, second.started_at, second.items_total) == ("failed", None, None)
    assert second.counters == ["x", None]
    assert (untouched.status, untouched.started_at, untouched.counters) == ("queued", None, {})


def test_an_over_long_value_fails_instead_of_being_cut_short() -> None:
    (run,) = _runs(1)

    with pytest.raises(DataError), transaction.atomic():
        rows_update(SyncRun, [(run.pk, {"status": "x" * 17})], ["status"])  # the column is varchar(16)

    run.refresh_from_db()
    assert run.status == "queued"


def test_no_rows_is_no_statement() -> None:
    with CaptureQueriesContext(connection) as queries:
        assert rows_update(SyncRun, [], ["status"]) == 0
    assert len(queries) == 0
