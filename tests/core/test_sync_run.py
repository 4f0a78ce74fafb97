"""The SyncRun helpers and the step executor every sync uses (``core.services``, ``core.steps``)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from core.exceptions import IntegrationError, TransientError
from core.models import SyncRun
from core.services import (
    SYNC_RUN_STATUS,
    LeaseLost,
    sync_run_checkpoint,
    sync_run_create,
    sync_run_finish,
    sync_run_is_stale,
    sync_run_lease_handoff,
    sync_run_lease_take,
    sync_run_progress,
    sync_run_retrying,
)
from core.steps import Step, StepRetry, sync_run_drive, sync_run_execute
from tests.factories import MerchantFactory
from tests.support.concurrency import at_once

pytestmark = pytest.mark.django_db

Status = SyncRun.Status


def _run(**fields: object) -> SyncRun:
    return sync_run_create(merchant=MerchantFactory(), kind="test.sync", mode="full", **fields)


def _stored(run: SyncRun) -> SyncRun:
    return SyncRun.objects.get(pk=run.pk)


def test_successful_run_records_progress_and_counters() -> None:
    run = _run()
    assert sync_run_lease_take(run=run, token="a", seconds=60)
    assert _stored(run).status == Status.RUNNING
    for _ in range(3):
        sync_run_progress(run=run, done=100, total=300, token="a")
        # Progress is visible to other readers while the run is still going.
        assert _stored(run).items_done == run.items_done
    sync_run_checkpoint(run=run, params={"next_page": 4}, add={"pages": 3}, token="a")
    assert sync_run_finish(run=run, counters={"seconds": 1}, token="a")
    stored = _stored(run)
    assert stored.status == Status.SUCCEEDED and stored.lease_token == "" and stored.lease_until is None
    assert (stored.items_done, stored.items_total, stored.progress_percent) == (300, 300, 100.0)
    assert stored.params == {"next_page": 4} and stored.counters == {"pages": 3, "seconds": 1}
    assert stored.started_at and stored.finished_at and stored.finished_at >= stored.started_at


def test_a_run_without_a_total_gets_its_done_count_as_total() -> None:
    run = _run()
    sync_run_lease_take(run=run, token="a", seconds=60)
    sync_run_progress(run=run, done=42)
    sync_run_finish(run=run)
    assert _stored(run).items_total == 42


def test_a_finished_run_is_neither_restarted_nor_finished_again() -> None:
    run = _run()
    sync_run_lease_take(run=run, token="a", seconds=60)
    assert sync_run_finish(run=run, token="a")
    assert not sync_run_lease_take(run=run, token="b", seconds=60)
    assert not sync_run_finish(run=run, error="late failure")
    stored = _stored(run)
    assert stored.status == Status.SUCCEEDED and stored.error == ""
    assert SYNC_RUN_STATUS.terminal == {Status.SUCCEEDED, Status.FAILED}


def test_a_held_lease_refuses_a_second_execution_and_an_expired_one_is_taken_over() -> None:
    run = _run()
    assert sync_run_lease_take(run=run, token="first", seconds=60)
    assert not sync_run_lease_take(run=run, token="second", seconds=60)  # a redelivered message
    assert not sync_run_is_stale(run=run)
    with pytest.raises(LeaseLost):
        sync_run_checkpoint(run=run, params={"page": 9}, token="second")
    SyncRun.objects.filter(pk=run.pk).update(lease_until="2000-01-01T00:00:00Z")  # its worker died
    assert sync_run_is_stale(run=run)
    assert sync_run_lease_take(run=run, token="second", seconds=60)
    with pytest.raises(LeaseLost):  # the first one, back from the dead, writes nothing
        sync_run_checkpoint(run=run, params={"page": 9}, add={"pages": 1}, token="first")
    assert _stored(run).params == {} and _stored(run).counters == {}


def test_a_handed_over_lease_admits_only_its_ticket() -> None:
    run = _run()
    sync_run_lease_take(run=run, token="step-1", seconds=60)
    assert sync_run_lease_handoff(run=run, token="step-1", ticket="ticket-2", seconds=60)
    assert not sync_run_lease_take(run=run, token="x", ticket="ticket-1", seconds=60)  # a stale message
    assert sync_run_lease_take(run=run, token="step-2", ticket="ticket-2", seconds=60)
    assert not sync_run_lease_take(run=run, token="y", ticket="ticket-2", seconds=60)  # its duplicate


def test_a_transient_error_leaves_the_run_retrying_and_the_retry_ends_it_done() -> None:
    run = _run()
    sync_run_lease_take(run=run, token="a", seconds=60)
    sync_run_checkpoint(run=run, params={"page": 2}, done=50, add={"rows": 50}, token="a")
    assert sync_run_retrying(run=run, error="TransientError: upstream slow", token="a", ticket="retry", seconds=60)
    stored = _stored(run)
    assert stored.status == Status.RETRYING and stored.error == "retrying: TransientError: upstream slow"
    assert stored.attempts == 1 and not sync_run_is_stale(run=run)  # its retry is due
    assert sync_run_lease_take(run=run, token="b", ticket="retry", seconds=60)
    assert _stored(run).status == Status.RUNNING and _stored(run).params == {"page": 2}
    sync_run_checkpoint(run=run, params={"page": 3}, done=80, add={"rows": 30}, token="b")
    assert sync_run_finish(run=run, token="b")
    stored = _stored(run)
    assert (stored.status, stored.error, stored.items_done, stored.counters) == (Status.SUCCEEDED, "", 80, {"rows": 80})


@pytest.mark.django_db(transaction=True)
def test_concurrent_counter_reports_lose_neither_counts_nor_keys() -> None:
    run = _run()

    def report(i: int) -> None:
        for _ in range(10):
            sync_run_progress(run=SyncRun.objects.get(pk=run.pk), done=1, counters={f"k{i}": i}, add={"n": 1})

    at_once(report, 8)
    stored = _stored(run)
    assert stored.items_done == 80 and stored.counters == {"n": 80, **{f"k{i}": i for i in range(8)}}


@pytest.mark.django_db(transaction=True)
def test_two_reporters_adding_to_the_same_and_to_their_own_counters_lose_nothing() -> None:
    run = _run()

    def report(i: int) -> None:
        for _ in range(200):
            sync_run_progress(run=SyncRun.objects.get(pk=run.pk), add={"shared": 1, f"own{i}": 1})

    at_once(report, 2)
    assert _stored(run).counters == {"shared": 400, "own0": 200, "own1": 200}


# --- the executor (core.steps) --------------------------------------------------------------------------


class Chain:
    """Stands for the Celery task: records what the executor publishes; ``drain`` delivers it."""

    def __init__(self) -> None:
        self.sent: list[tuple[tuple[Any, ...], dict[str, Any], float | None]] = []

    def apply_async(self, args: tuple[Any, ...], kwargs: dict[str, Any] | None = None, countdown: float | None = None):  # type: ignore[no-untyped-def]
        self.sent.append((args, kwargs or {}, countdown))

    def drain(self, step: Any, retry: StepRetry, limit: int = 50) -> list[dict[str, Any]]:
        answers = []
        while self.sent and limit:
            (run_id, ticket), kwargs, _ = self.sent.pop(0)
            answers.append(
                sync_run_drive(
                    task=self, run_id=run_id, ticket=ticket, kinds="test.sync", step=step, retry=retry, **kwargs
                )
            )
            limit -= 1
        return answers


class Pages:
    """A step function over ``total`` pages; ``fail`` maps a page to the error it raises once."""

    def __init__(self, total: int, fail: dict[int, BaseException] | None = None, seconds: float = 0.0) -> None:
        self.total, self.fail, self.seconds = total, dict(fail or {}), seconds
        self.reads: list[int] = []

    def __call__(self, step: Step) -> bool:
        page = int(step.run.params.get("page", 0))
        self.reads.append(page)
        if page in self.fail:
            raise self.fail.pop(page)
        time.sleep(self.seconds)
        step.checkpoint(params={"page": page + 1}, done=page + 1, add={"pages": 1})
        return page + 1 >= self.total


def test_a_long_run_is_a_chain_of_short_messages_each_page_read_once(settings) -> None:  # type: ignore[no-untyped-def]
    settings.SYNC_STEP_SECONDS = 0.05
    run = _run()
    chain, pages = Chain(), Pages(12, seconds=0.02)
    chain.apply_async((run.pk, ""))
    answers = chain.drain(pages, StepRetry())
    assert len(answers) >= 3 and answers[-1]["status"] == Status.SUCCEEDED
    assert {a["status"] for a in answers[:-1]} == {"continued"}
    assert pages.reads == list(range(12))
    stored = _stored(run)
    assert (stored.status, stored.items_done, stored.counters) == (Status.SUCCEEDED, 12, {"pages": 12})


def test_a_duplicate_delivery_finds_the_lease_taken_and_looks_again_later(settings) -> None:  # type: ignore[no-untyped-def]
    run = _run()
    assert sync_run_lease_take(run=run, token="someone", seconds=60)
    chain = Chain()
    answer = sync_run_drive(task=chain, run_id=run.pk, ticket="", kinds="test.sync", step=Pages(1), retry=StepRetry())
    assert answer["status"] == "busy" and _stored(run).lease_token == "someone"
    (args, kwargs, countdown) = chain.sent[0]
    assert args == (run.pk, "") and kwargs == {"recheck": 1} and countdown == settings.SYNC_LEASE_SECONDS + 1


def test_a_transient_error_is_retried_from_the_checkpoint_and_counted_once(settings) -> None:  # type: ignore[no-untyped-def]
    run = _run()
    chain = Chain()
    pages = Pages(5, fail={3: TransientError("upstream 503", status_code=503)})
    chain.apply_async((run.pk, ""))
    first = chain.drain(pages, StepRetry(), limit=1)
    assert first == [{"run_id": run.pk, "status": "retrying", "error": "TransientError"}]
    stored = _stored(run)
    assert stored.status == Status.RETRYING and "503" in stored.error and stored.params == {"page": 3}
    (_, _, countdown) = chain.sent[0]
    assert countdown is not None and 0 < countdown <= settings.SYNC_RETRY_COUNTDOWN_MAX
    assert chain.drain(pages, StepRetry())[-1]["status"] == Status.SUCCEEDED
    stored = _stored(run)
    assert (stored.status, stored.error, stored.attempts) == (Status.SUCCEEDED, "", 1)
    assert stored.counters == {"pages": 5} and pages.reads == [0, 1, 2, 3, 3, 4]


def test_a_permanent_error_or_the_last_retry_fails_the_run() -> None:
    run = _run()
    chain = Chain()
    chain.apply_async((run.pk, ""))
    chain.drain(Pages(3, fail={1: IntegrationError("bad credentials", permanent=True)}), StepRetry())
    assert _stored(run).status == Status.FAILED and "bad credentials" in _stored(run).error
    run = _run()
    chain.apply_async((run.pk, ""))
    always = Pages(3, fail={0: TransientError("down")})
    for _ in range(3):
        always.fail[0] = TransientError("down")
        chain.drain(always, StepRetry(max_retries=2), limit=1)
    stored = _stored(run)
    assert (stored.status, stored.attempts) == (Status.FAILED, 2) and not chain.sent


def test_executing_in_one_call_leaves_a_transient_failure_retrying_and_resumes_it() -> None:
    run = _run()
    pages = Pages(4, fail={2: TransientError("timeout")})
    with pytest.raises(TransientError):
        sync_run_execute(run=run, step=pages)
    assert _stored(run).status == Status.RETRYING and sync_run_is_stale(run=run)
    run = sync_run_execute(run=run, step=pages)
    assert (run.status, run.items_done, run.counters) == (Status.SUCCEEDED, 4, {"pages": 4})
