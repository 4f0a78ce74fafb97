"""core.inbox: one inbox model, one transition table, one process path, one sweep (issue 22).

The base is abstract; its behaviour is proven on Poster's webhook log, a concrete inbox, driven by
inboxes made here with handlers that count, fail or wait."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone

from core.exceptions import IntegrationError, TransientError
from core.inbox import (
    Handled,
    Inbox,
    InboxStatus,
    inbox_claim,
    inbox_process,
    inbox_store,
    inbox_sweep,
    inboxes_registered,
)
from core.transitions import TransitionNotAllowed
from poster_sync.models import WebhookLog
from tests.support.concurrency import at_once


def _row(key: str, *, age_seconds: float = 600, **fields: Any) -> WebhookLog:
    row = WebhookLog.objects.create(object="ingredient", object_id=key, delivery_key=key, **fields)
    WebhookLog.objects.filter(pk=row.pk).update(received_at=timezone.now() - timedelta(seconds=age_seconds))
    return row


def _inbox(handler: Any, **options: Any) -> Inbox:
    return Inbox(name="test.inbox", model=WebhookLog, handler=handler, **options)


@pytest.mark.django_db
def test_moves_outside_the_table_are_refused() -> None:
    inbox = _inbox(lambda row: Handled())
    done = _row("done", status=InboxStatus.PROCESSED)
    forged = _row("forged", status=InboxStatus.REJECTED)
    with pytest.raises(TransitionNotAllowed):
        inbox.state.advance(pk=done.pk, to=InboxStatus.PROCESSING, from_=InboxStatus.PROCESSED)
    with pytest.raises(TransitionNotAllowed):
        inbox_claim(inbox=inbox, pk=forged.pk, from_=[InboxStatus.REJECTED])
    with pytest.raises(TransitionNotAllowed):  # straight to retry without an attempt
        inbox.state.advance(pk=done.pk, to=InboxStatus.RETRY, from_=InboxStatus.RECEIVED)
    # Terminal rows are never claimed, whoever asks.
    assert not inbox_claim(inbox=inbox, pk=done.pk) and not inbox_claim(inbox=inbox, pk=forged.pk)
    assert inbox_process(inbox=inbox, pk=done.pk) == "not due"
    assert set(WebhookLog.objects.values_list("status", flat=True)) == {InboxStatus.PROCESSED, InboxStatus.REJECTED}


@pytest.mark.django_db
def test_store_keeps_one_row_per_unique_message() -> None:
    inbox = _inbox(lambda row: Handled())
    first = inbox_store(inbox=inbox, object="ingredient", object_id="1", delivery_key="k", payload={"a": 1})
    assert first is not None and first.status == InboxStatus.RECEIVED
    assert inbox_store(inbox=inbox, object="ingredient", object_id="1", delivery_key="k") is None
    assert WebhookLog.objects.count() == 1


@pytest.mark.django_db
def test_a_handler_runs_once_and_its_outcome_is_recorded() -> None:
    calls: list[int] = []

    def handler(row: WebhookLog) -> Handled:
        calls.append(row.pk)
        return Handled(InboxStatus.IGNORED, "nothing to sync")

    inbox = _inbox(handler)
    row = _row("a", age_seconds=0)
    assert inbox_process(inbox=inbox, pk=row.pk) == InboxStatus.IGNORED
    assert inbox_process(inbox=inbox, pk=row.pk) == "not due"
    row.refresh_from_db()
    assert calls == [row.pk]
    assert (row.status, row.attempts, row.last_error) == (InboxStatus.IGNORED, 1, "nothing to sync")
    assert row.processed_at is not None


@pytest.mark.django_db
def test_a_failing_handler_backs_off_records_its_error_and_fails_after_its_attempts() -> None:
    def handler(row: WebhookLog) -> Handled:
        raise TransientError("provider said 503", service="test")

    inbox = _inbox(handler, max_attempts=3, backoff_base_seconds=10, backoff_max_seconds=15)
    row = _row("a")
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        assert inbox_sweep(inboxes=[inbox]) == {"test.inbox": 1}
        row.refresh_from_db()
        assert (row.status, row.attempts) == (InboxStatus.RETRY, 1)
        assert "TransientError" in row.last_error and "provider said 503" in row.last_error
        assert row.next_attempt_at == start + timedelta(seconds=10)
        assert inbox_sweep(inboxes=[inbox]) == {"test.inbox": 0}  # not due yet
    with time_machine.travel(start + timedelta(seconds=11), tick=False):
        assert inbox_sweep(inboxes=[inbox]) == {"test.inbox": 1}
        row.refresh_from_db()
        assert (row.status, row.attempts) == (InboxStatus.RETRY, 2)
        assert row.next_attempt_at == start + timedelta(seconds=11 + 15)  # 20 s, capped at 15
    with time_machine.travel(start + timedelta(seconds=30), tick=False):
        assert inbox_sweep(inboxes=[inbox]) == {"test.inbox": 1}
        row.refresh_from_db()
        assert (row.status, row.attempts, row.next_attempt_at) == (InboxStatus.FAILED, 3, None)
    with time_machine.travel(start + timedelta(hours=1), tick=False):
        assert inbox_sweep(inboxes=[inbox]) == {"test.inbox": 0}  # failed for good: staff's retry only


@pytest.mark.django_db
def test_a_permanent_error_fails_at_once_and_is_reported() -> None:
    seen: list[tuple[int, str, bool]] = []

    def handler(row: WebhookLog) -> Handled:
        raise IntegrationError("token revoked", permanent=True)

    inbox = _inbox(handler, on_failure=lambda row, exc, retrying: seen.append((row.pk, str(exc), retrying)))
    row = _row("a")
    assert inbox_process(inbox=inbox, pk=row.pk) == InboxStatus.FAILED
    row.refresh_from_db()
    assert row.status == InboxStatus.FAILED and "token revoked" in row.last_error
    assert seen == [(row.pk, "token revoked", False)]


@pytest.mark.django_db
def test_a_row_left_processing_by_a_dead_worker_is_retried_by_the_sweep() -> None:
    inbox = _inbox(lambda row: Handled(note="done"), stuck_after_seconds=60)
    row = _row("stuck", status=InboxStatus.PROCESSING, attempts=1)
    WebhookLog.objects.filter(pk=row.pk).update(updated_at=timezone.now() - timedelta(seconds=61))
    fresh = _row("busy", status=InboxStatus.PROCESSING, attempts=1)  # a live worker has this one
    assert inbox_sweep(inboxes=[inbox]) == {"test.inbox": 1}
    row.refresh_from_db()
    fresh.refresh_from_db()
    assert (row.status, row.attempts, row.last_error) == (InboxStatus.PROCESSED, 2, "done")
    assert fresh.status == InboxStatus.PROCESSING


@pytest.mark.django_db
def test_a_fresh_row_is_left_to_its_task() -> None:
    inbox = _inbox(lambda row: Handled(), received_grace_seconds=60)
    row = _row("new", age_seconds=1)
    assert inbox_sweep(inboxes=[inbox]) == {"test.inbox": 0}
    row.refresh_from_db()
    assert row.status == InboxStatus.RECEIVED


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_sweeps_process_each_due_row_once() -> None:
    calls: list[int] = []
    lock = threading.Lock()

    def handler(row: WebhookLog) -> Handled:
        with lock:
            calls.append(row.pk)
        time.sleep(0.05)  # both sweeps are inside their loops at once
        return Handled()

    inbox = _inbox(handler)
    rows = [_row(f"r{i}") for i in range(8)]
    per_sweep = at_once(lambda _: inbox_sweep(inboxes=[inbox])["test.inbox"], 2)
    assert sorted(calls) == sorted(row.pk for row in rows)  # each once
    assert sum(per_sweep) == len(rows)
    assert set(WebhookLog.objects.values_list("status", "attempts")) == {(InboxStatus.PROCESSED, 1)}


def test_every_inbox_registers_with_the_one_sweep() -> None:
    import poster_sync.services.webhooks  # noqa: F401 - registers at import

    assert "poster_sync.webhooks" in {inbox.name for inbox in inboxes_registered()}
