"""Sync runs: idempotent re-runs, changed rows, incremental overlap, resume after dying half-way (VEN-2, VEN-3)."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db.models import Count
from django.test import override_settings

from core.exceptions import TransientError
from core.models import SyncRun
from sandbox.harness import Request, Response, json_response
from sandbox.vendista import VendistaSimulator
from tests.factories import DeviceFactory
from tests.vending.conftest import MANY_PAGES_RATE
from vending import services
from vending.clients.vendista import SubscriptionUnpaid
from vending.models import DailyRollup, SyncKind, SyncMode, Terminal, Transaction, VendistaAccount

pytestmark = pytest.mark.django_db

START = "2026-01-01T00:00:00"


def run_sync(account: VendistaAccount, mode: str = SyncMode.FULL, **kwargs: object) -> SyncRun:
    run = services.sync_request(account=account, mode=mode, enqueue=False, **kwargs)  # type: ignore[arg-type]
    return services.transactions_sync(run=run)


@time_machine.travel("2026-01-20 12:00:00+03:00", tick=False)
def test_full_sync_stores_every_transaction_with_typed_columns_and_progress(vendista, make_account) -> None:
    sim, _ = vendista(total=2345, terminals=4, start=START, days=10)
    account = make_account()
    run = run_sync(account)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.items_done, run.items_total) == (2345, 2345)
    assert run.counters["inserted"] == 2345 and run.counters["pages"] == 3
    assert Transaction.objects.filter(account=account).count() == 2345
    tx = Transaction.objects.get(account=account, vendista_id=sim.id_base + 7)
    item = sim._item(7)
    assert tx.term_id == item["term_id"] and tx.sum_minor == item["sum"] and tx.raw == item
    # Vendista's naive time is the account's zone (Moscow, UTC+3).
    assert tx.time == datetime.fromisoformat(item["time"]).replace(tzinfo=account.zone)
    assert tx.machine_item_id == item["machine_item"][0]["machine_item_id"]
    assert Transaction.objects.filter(is_refund=True).exclude(reverse_id=0).exists()
    assert Terminal.objects.filter(account=account).count() == 4
    account.refresh_from_db()
    assert account.last_sync_at is not None and account.subscription_status == "active"


@time_machine.travel("2026-01-20 12:00:00+03:00", tick=False)
def test_rerunning_a_sync_adds_no_rows_and_updates_changed_ones(vendista, make_account) -> None:
    sim, _ = vendista(total=1500, terminals=3, start=START, days=10)
    account = make_account()
    run_sync(account)
    rollups_before = {(r.term_id, r.day): r.revenue_gross for r in DailyRollup.objects.all()}
    index = next(i for i in range(100, 200) if not sim._item(i)["reverse_id"])  # a sale, not a refund
    changed_id = sim.id_base + index
    original = sim._item(index)["sum"]
    sim.change(changed_id, sum=99_900, status=7)
    again = run_sync(account)
    assert again.counters["inserted"] == 0 and again.counters["updated"] == 1
    assert Transaction.objects.count() == 1500
    assert not Transaction.objects.values("account", "term_id", "vendista_id").annotate(n=Count("id")).filter(n__gt=1)
    tx = Transaction.objects.get(vendista_id=changed_id)
    assert (tx.sum_minor, tx.status, tx.raw["sum"]) == (99_900, 7, 99_900)
    day = tx.time.astimezone(account.zone).date()
    rollup = DailyRollup.objects.get(term_id=tx.term_id, day=day)
    assert rollup.revenue_gross == rollups_before[(tx.term_id, day)] + 99_900 - original  # the touched day follows


@time_machine.travel("2026-01-11 00:30:00+03:00", tick=False)
def test_incremental_sync_catches_late_arrivals_inside_the_overlap(vendista, make_account) -> None:
    sim, _ = vendista(total=1000, terminals=2, start=START, days=10)  # ends 2026-01-11 00:00
    account = make_account()
    run_sync(account)
    newest = Transaction.objects.order_by("-time").first().time.astimezone(account.zone).replace(tzinfo=None)
    late = sim.add_late(time=newest - timedelta(minutes=30), sum=12345)
    too_old = sim.add_late(time=newest - timedelta(days=2), sum=777)
    run = run_sync(account, SyncMode.INCREMENTAL)
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.params["date_from"] == (newest.replace(microsecond=0) - timedelta(minutes=180)).strftime(
        services.LOCAL_FORMAT
    )
    assert Transaction.objects.filter(vendista_id=late["id"], sum_minor=12345).exists()
    assert run.counters["inserted"] == 1  # the overlap re-read everything else unchanged
    assert not Transaction.objects.filter(vendista_id=too_old["id"]).exists()  # outside the overlap window
    # A date-range sync picks it up.
    day = (newest - timedelta(days=2)).date()
    run_sync(account, SyncMode.RANGE, date_from=day, date_to=day)
    assert Transaction.objects.filter(vendista_id=too_old["id"]).exists()
    rollup = DailyRollup.objects.get(account=account, day=day, term_id=too_old["term_id"])
    assert rollup.revenue_gross == sum(
        Transaction.objects.filter(
            account=account, term_id=too_old["term_id"], is_refund=False, time__date=day
        ).values_list("sum_minor", flat=True)
    )


class DyingVendista(VendistaSimulator):
    """Answers 503 from page ``die_at`` on while ``dying`` is set: the sync fails half-way."""

    die_at = 4
    dying = True

    def transactions(self, request: Request) -> Response:
        if self.dying and int(request.arg("PageNumber") or 1) >= self.die_at:
            return json_response({"success": False, "error": "down"}, 503)
        with self.lock:
            self.state.setdefault("pages", []).append(int(request.arg("PageNumber") or 1))
        return super().transactions(request)


@override_settings(VENDISTA_PAGE_SIZE=100, VENDISTA_INGEST_BATCH=200)
@time_machine.travel("2026-01-20 12:00:00+03:00", tick=True)
def test_a_sync_that_dies_half_way_resumes_from_its_checkpoint_without_duplicates(sandbox, make_account) -> None:
    sim = DyingVendista(total=950, terminals=3, start=START, days=10)
    server = sandbox(sim)
    account = make_account(rate_per_second=MANY_PAGES_RATE)  # dozens of pages; the pace is test_pace.py's
    run = services.sync_request(account=account, mode=SyncMode.FULL, enqueue=False)
    with pytest.raises(TransientError):
        services.transactions_sync(run=run, base_url=server.url)
    run.refresh_from_db()
    assert run.status == SyncRun.Status.RETRYING and "503" in run.error  # left for the retry, with its checkpoint
    assert run.params["next_page"] == 3 and run.params["done"] == 200  # pages 1-2 committed with rollups
    assert services.sync_run_is_stale(run=run)  # nobody holds its lease: the periodic job resumes it
    stored = Transaction.objects.count()
    assert 200 <= stored <= 300
    sim.dying = False
    sim.state["pages"] = []
    run = services.transactions_sync(run=run, base_url=server.url)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert sim.state["pages"][0] == 3  # resumed, not restarted
    assert run.items_done == 950 and run.error == "" and run.attempts == 1
    # Counted once: page 3, read before the failure but behind no checkpoint, counts only on the resume.
    assert (run.counters["received"], run.counters["pages"]) == (950, 10)
    assert Transaction.objects.count() == 950
    assert not Transaction.objects.values("term_id", "vendista_id").annotate(n=Count("id")).filter(n__gt=1)
    total = sum(Transaction.objects.filter(is_refund=False).values_list("sum_minor", flat=True))
    assert sum(DailyRollup.objects.values_list("revenue_gross", flat=True)) == total


@time_machine.travel("2026-01-20 12:00:00+03:00", tick=False)
def test_unpaid_subscription_fails_the_run_and_marks_the_account(vendista, make_account) -> None:
    sim, _ = vendista(total=100, start=START, days=10)
    sim.set_unpaid(True)
    account = make_account()
    with pytest.raises(SubscriptionUnpaid):
        run_sync(account)
    run = SyncRun.objects.get(kind=SyncKind.TRANSACTIONS)
    assert run.status == SyncRun.Status.FAILED and "402" in run.error
    account.refresh_from_db()
    assert account.subscription_status == VendistaAccount.Subscription.UNPAID
    assert "unpaid" in account.last_error


def test_a_second_request_returns_the_unfinished_run(make_account) -> None:
    account = make_account()
    first = services.sync_request(account=account, enqueue=False)
    assert services.sync_request(account=account, enqueue=False).pk == first.pk


def test_nightly_job_syncs_accounts_whose_local_clock_reads_midnight(make_account) -> None:
    almaty = make_account(time_zone="Asia/Almaty")  # UTC+5
    moscow = make_account(time_zone="Europe/Moscow")  # UTC+3
    with time_machine.travel("2026-03-10 19:00:00+00:00", tick=False):  # 00:00 on 2026-03-11 in Almaty
        runs = services.sync_nightly_due()
    assert len(runs) == 1
    run = SyncRun.objects.get(pk=runs[0])
    assert run.account == almaty and run.mode == SyncMode.RANGE
    # VENDISTA_NIGHTLY_DAYS=2: the two previous local days, up to now.
    assert (run.params["date_from"], run.params["date_to"]) == ("2026-03-09T00:00:00", "2026-03-10T23:59:59")
    with time_machine.travel("2026-03-10 21:00:00+00:00", tick=False):  # 00:00 in Moscow
        runs = services.sync_nightly_due()
    assert [SyncRun.objects.get(pk=r).account for r in runs] == [moscow]


def test_periodic_jobs_are_registered() -> None:
    import vending.periodic  # noqa: F401
    from core.scheduling import registered_jobs

    jobs = {job.name: job for job in registered_jobs()}
    assert jobs["vending.sync_incremental"].every_seconds == 900 and jobs["vending.sync_incremental"].expires_seconds
    assert jobs["vending.sync_nightly"].crontab == {"minute": "0", "hour": "*"}


def test_a_terminal_is_linked_to_a_payments_device_only_explicitly(vendista, make_account) -> None:
    """No guessing by field names at sync time: staff link a terminal to a device of the same merchant,
    and a later sync keeps that link."""
    vendista(total=5, terminals=3)
    account = make_account()
    DeviceFactory(merchant=account.merchant, external_id="1001")  # same id: still not linked by a sync
    services.terminals_sync(account=account)
    assert not Terminal.objects.filter(account=account, device__isnull=False).exists()
    terminal = Terminal.objects.get(account=account, term_id=1001)
    mine = DeviceFactory(merchant=account.merchant)
    services.terminal_link_device(terminal=terminal, device=mine)
    with pytest.raises(ValidationError):
        services.terminal_link_device(terminal=terminal, device=DeviceFactory())  # another merchant's
    services.terminals_sync(account=account)
    links = dict(Terminal.objects.filter(account=account).values_list("term_id", "device"))
    assert links == {1000: None, 1001: mine.pk, 1002: None}
