from __future__ import annotations

import pytest

from core.models import SyncRun
from core.transitions import StateTable, TransitionNotAllowed
from tests.support.concurrency import at_once

Status = SyncRun.Status
TABLE = StateTable(
    SyncRun,
    "status",
    {
        Status.QUEUED: {Status.RUNNING, Status.FAILED},
        Status.RUNNING: {Status.SUCCEEDED, Status.FAILED},
        Status.RETRYING: set(),
        Status.SUCCEEDED: set(),
        Status.FAILED: {Status.QUEUED},
    },
)


@pytest.fixture
def run(merchant_factory) -> SyncRun:
    return SyncRun.objects.create(merchant=merchant_factory(), kind="test")


def test_a_move_in_the_table_returns_the_state_it_left_and_writes_fields(run: SyncRun) -> None:
    assert TABLE.advance(pk=run.pk, to=Status.RUNNING, error="x") == Status.QUEUED
    run.refresh_from_db()
    assert (run.status, run.error) == (Status.RUNNING, "x")


def test_a_row_not_in_a_source_state_is_left_alone(run: SyncRun) -> None:
    assert TABLE.advance(pk=run.pk, to=Status.SUCCEEDED) is None
    run.refresh_from_db()
    assert run.status == Status.QUEUED


def test_several_sources_follow_the_current_state(run: SyncRun) -> None:
    assert TABLE.advance(pk=run.pk, to=Status.FAILED) == Status.QUEUED
    assert TABLE.advance(pk=run.pk, to=Status.QUEUED) == Status.FAILED
    TABLE.advance(pk=run.pk, to=Status.RUNNING)
    assert TABLE.advance(pk=run.pk, to=Status.FAILED, from_=[Status.RUNNING]) == Status.RUNNING


def test_where_narrows_the_row(run: SyncRun) -> None:
    assert TABLE.advance(pk=run.pk, to=Status.RUNNING, where={"kind": "other"}) is None
    assert TABLE.advance(pk=run.pk, to=Status.RUNNING, where={"kind": "test"}) == Status.QUEUED


def test_moves_outside_the_table_are_refused_as_programming_errors(run: SyncRun) -> None:
    with pytest.raises(TransitionNotAllowed):
        TABLE.advance(pk=run.pk, to=Status.SUCCEEDED, from_=Status.QUEUED)
    assert TABLE.terminal == {Status.SUCCEEDED, Status.RETRYING}
    assert TABLE.can(Status.RUNNING, Status.SUCCEEDED) and not TABLE.can(Status.SUCCEEDED, Status.RUNNING)


def test_a_table_must_cover_the_fields_choices() -> None:
    with pytest.raises(ValueError, match="choices"):
        StateTable(SyncRun, "status", {Status.QUEUED: {Status.RUNNING}, Status.RUNNING: set()})
    with pytest.raises(ValueError, match="not states"):
        StateTable(SyncRun, "status", {Status.QUEUED: {"nowhere"}})


@pytest.mark.django_db(transaction=True)
def test_of_concurrent_callers_exactly_one_moves_the_row(merchant_factory) -> None:
    run = SyncRun.objects.create(merchant=merchant_factory(), kind="race")
    results = at_once(lambda _: TABLE.advance(pk=run.pk, to=Status.FAILED), 8)
    assert results.count(Status.QUEUED) == 1
    assert results.count(None) == 7


def test_move_is_one_conditional_update_over_every_source(run: SyncRun, django_assert_num_queries) -> None:
    with django_assert_num_queries(1):
        assert TABLE.move(pk=run.pk, to=Status.FAILED)  # queued → failed
    with django_assert_num_queries(1):
        assert not TABLE.move(pk=run.pk, to=Status.FAILED, from_=[Status.QUEUED, Status.RUNNING])
    run.refresh_from_db()
    assert run.status == Status.FAILED
    with pytest.raises(TransitionNotAllowed):
        TABLE.move(pk=run.pk, to=Status.SUCCEEDED, from_=Status.QUEUED)
