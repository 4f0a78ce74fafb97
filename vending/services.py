"""Writes of the vending app: clients per account, sync runs, bulk ingest, rollups (SPEC VEN-1..4).

A sync is a ``SyncRun`` (kind ``vending.transactions``) whose ``params`` hold the fixed window
(local naive datetimes in the account's zone) and a checkpoint (``next_page``, ``done``). Pages
are fetched in ascending time order against a window frozen at the start, so a run that dies
half-way is resumed from its checkpoint by running it again: rows are upserted on
(account, term_id, vendista_id), so a page read twice changes nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import queue
import re
import threading
import time as time_module
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import redis
from django.apps import apps
from django.conf import settings
from django.db import OperationalError, connection, connections, transaction
from django.db.models import Count, F, Max, Q, Sum
from django.db.models.functions import Abs, Coalesce, TruncDate
from django.utils import timezone

from core.exceptions import IntegrationError
from core.models import SyncRun
from core.ratelimit import Rate, RateLimiter
from core.services import sync_run_create, sync_run_finish, sync_run_start

from .clients.vendista import (
    AuthenticationFailed,
    RawTransactionPage,
    SubscriptionUnpaid,
    VendistaClient,
    VendistaError,
    VendistaTransaction,
    is_last_page,
)
from .models import DailyRollup, Terminal, Transaction, VendistaAccount

log = logging.getLogger(__name__)

KIND = "vending.transactions"
LOCAL_FORMAT = "%Y-%m-%dT%H:%M:%S"


class Mode:
    FULL = "full"
    INCREMENTAL = "incremental"
    RANGE = "range"


# --- clients ------------------------------------------------------------------------------------------

def account_limiter(account: VendistaAccount) -> RateLimiter:
    return RateLimiter(f"vendista:{account.pk}", Rate.per_second(account.rate_per_second or 1.0))


def account_client(*, account: VendistaAccount, base_url: str | None = None) -> VendistaClient:
    limiter = account_limiter(account)

    def acquire() -> None:
        limiter.acquire(timeout=120)

    def remember(token: str) -> None:
        # A fresh token from the login is kept (encrypted) so the next run does not log in again.
        account.token = token
        account.save(update_fields=["token"])

    return VendistaClient(
        base_url=base_url or settings.VENDISTA_API_URL,
        token=account.token or "",
        login=account.login,
        password=account.password or "",
        verify=account.tls_verify_value,
        before_request=acquire,
        on_token=remember,
        page_size=settings.VENDISTA_PAGE_SIZE,
    )


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    status: str
    status_code: int
    message: str
    items_count: int | None = None


def account_mark_error(*, account: VendistaAccount, exc: Exception) -> None:
    fields: dict[str, Any] = {"last_error": str(exc)[:2000]}
    if isinstance(exc, SubscriptionUnpaid):
        fields["subscription_status"] = VendistaAccount.Subscription.UNPAID
    VendistaAccount.objects.filter(pk=account.pk).update(**fields)
    for key, value in fields.items():
        setattr(account, key, value)


def account_test_connection(*, account: VendistaAccount) -> ConnectionResult:
    client = account_client(account=account)
    try:
        count = client.connection_test()
    except SubscriptionUnpaid as exc:
        account_mark_error(account=account, exc=exc)
        return ConnectionResult(False, "subscription_unpaid", 402,
                                "The Vendista subscription of this account is unpaid (HTTP 402).")
    except AuthenticationFailed as exc:
        account_mark_error(account=account, exc=exc)
        return ConnectionResult(False, "unauthorized", exc.status_code or 401, str(exc))
    except IntegrationError as exc:
        account_mark_error(account=account, exc=exc)
        return ConnectionResult(False, "unreachable" if exc.status_code is None else "error",
                                exc.status_code or 0, str(exc))
    VendistaAccount.objects.filter(pk=account.pk).update(subscription_status=VendistaAccount.Subscription.ACTIVE,
                                                         last_error="")
    account.subscription_status = VendistaAccount.Subscription.ACTIVE
    return ConnectionResult(True, "ok", 200, f"Connected; Vendista reports {count} transactions.", count)


# --- terminals -----------------------------------------------------------------------------------------

def _device_refs(*, account: VendistaAccount, term_ids: list[int]) -> dict[int, str]:
    """Loose link to the merchant's payments devices whose external id is the Vendista terminal id.

    Looked up by name at sync time, only when that app and field exist (no import of payments).
    """
    try:
        device_model = apps.get_model("payments", "Device")
    except LookupError:
        return {}
    names = {f.name for f in device_model._meta.get_fields()}
    field = next((n for n in ("vendista_term_id", "vendista_terminal_id", "external_id") if n in names), None)
    if field is None or not term_ids:
        return {}
    devices = device_model.objects.filter(**{f"{field}__in": [str(t) for t in term_ids]})
    if "merchant" in names:
        devices = devices.filter(merchant_id=account.merchant_id)
    return {int(value): str(pk) for value, pk in devices.values_list(field, "pk") if str(value).isdigit()}


def terminals_sync(*, account: VendistaAccount, client: VendistaClient | None = None) -> int:
    client = client or account_client(account=account)
    terminals = client.terminals()
    zone = account.zone
    refs = _device_refs(account=account, term_ids=[t.id for t in terminals])
    rows = [
        Terminal(account=account, term_id=t.id, comment=t.comment[:300], serial_number=t.serial_number[:100],
                 last_online_time=t.last_online_time.replace(tzinfo=zone) if t.last_online_time else None,
                 last_hour_online=t.last_hour_online, device_ref=refs.get(t.id, ""), raw=t.raw)
        for t in terminals
    ]
    Terminal.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["account", "term_id"],
        update_fields=["comment", "serial_number", "last_online_time", "last_hour_online", "device_ref", "raw",
                       "updated_at"],
    )
    return len(rows)


# --- ingest ---------------------------------------------------------------------------------------------

@dataclass
class IngestResult:
    received: int = 0
    inserted: int = 0
    updated: int = 0
    days: set[date] | None = None


# One statement per page: PostgreSQL parses the page body and upserts its items; only rows that
# are new or whose payload changed are written. The local days of *every* item on the page are
# reported (Vendista's naive time is already local): a page re-read after a crash may hold rows
# committed before the crash whose rollups were not yet rebuilt.
_PG_UPSERT = """
WITH page AS (SELECT %(body)s::jsonb AS b),
items AS (SELECT e FROM page, jsonb_array_elements(page.b -> 'items') AS e),
ins AS (
    INSERT INTO vending_transaction AS t
        (account_id, term_id, vendista_id, time, sum_minor, machine_item_id, card_number, status, result,
         reverse_id, is_refund, raw, synced_at)
    SELECT %(account)s, (e->>'term_id')::bigint, (e->>'id')::bigint,
           ((e->>'time')::timestamp AT TIME ZONE %(tz)s),
           COALESCE((e->>'sum')::bigint, 0),
           (e->'machine_item'->0->>'machine_item_id')::bigint,
           left(COALESCE(e->>'card_number', ''), 64),
           (e->>'status')::int, (e->>'result')::int,
           COALESCE((e->>'reverse_id')::bigint, 0),
           (COALESCE((e->>'sum')::bigint, 0) <= 0 OR COALESCE((e->>'reverse_id')::bigint, 0) <> 0),
           e, now()
    FROM items
    ON CONFLICT (account_id, term_id, vendista_id) DO UPDATE SET
        time = EXCLUDED.time, sum_minor = EXCLUDED.sum_minor, machine_item_id = EXCLUDED.machine_item_id,
        card_number = EXCLUDED.card_number, status = EXCLUDED.status, result = EXCLUDED.result,
        reverse_id = EXCLUDED.reverse_id, is_refund = EXCLUDED.is_refund, raw = EXCLUDED.raw,
        synced_at = EXCLUDED.synced_at, previous_time = t.time
    WHERE t.raw IS DISTINCT FROM EXCLUDED.raw
    RETURNING (xmax = 0) AS inserted, previous_time
)
SELECT (SELECT (b->>'page_number')::int FROM page), (SELECT (b->>'items_per_page')::int FROM page),
       (SELECT (b->>'items_count')::int FROM page), (SELECT jsonb_array_length(b->'items') FROM page),
       (SELECT COALESCE(b->>'success', 'true') FROM page),
       (SELECT count(*) FILTER (WHERE inserted) FROM ins), (SELECT count(*) FROM ins),
       (SELECT array_agg(DISTINCT ((e->>'time')::timestamp)::date) FROM items),
       (SELECT array_agg(DISTINCT (previous_time AT TIME ZONE %(tz)s)::date) FROM ins
         WHERE NOT inserted AND previous_time IS NOT NULL)
"""


_NUL_ESCAPE = re.compile(r"(?<!\\)((?:\\\\)*)\\u0000")


def _without_nul_escapes(body: str) -> str:
    """JSON may escape NUL as ``\\u0000``; PostgreSQL's jsonb (and text) cannot hold it, and one such
    character would fail the whole page. Drop it (an escaped backslash before ``u0000`` is kept)."""
    return _NUL_ESCAPE.sub(r"\1", body) if "\\u0000" in body else body


def bulk_ingest_supported() -> bool:
    return connection.vendor == "postgresql"


def transactions_ingest_raw_page(*, account: VendistaAccount, page: RawTransactionPage) -> tuple[IngestResult, bool]:
    """Upsert one raw page in PostgreSQL; returns the result and whether it was the last page."""
    from django.db import DataError

    try:
        with connection.cursor() as cursor:
            cursor.execute(_PG_UPSERT, {"body": _without_nul_escapes(page.body), "account": account.pk,
                                        "tz": account.time_zone})
            number, per_page, count, n_items, success, inserted, written, days, old_days = cursor.fetchone()
    except DataError as exc:
        raise VendistaError(f"malformed /transactions page {page.page} from Vendista: {exc}", service="vendista",
                            permanent=True) from exc
    if str(success).lower() == "false":
        raise VendistaError("Vendista /transactions answered without success", service="vendista")
    result = IngestResult(received=n_items or 0, inserted=inserted, updated=written - inserted,
                          days={*(days or []), *(old_days or [])})
    last = is_last_page(page_number=number or page.page, items_per_page=per_page or page.requested_size,
                        items_count=count or 0, n_items=n_items or 0, requested_size=page.requested_size)
    return result, last


def transactions_ingest(*, account: VendistaAccount, items: Iterable[VendistaTransaction]) -> IngestResult:
    """Portable bulk upsert (SQLite for `make run` without PostgreSQL; tests of parsed items)."""
    zone = account.zone
    by_key: dict[tuple[int, int], VendistaTransaction] = {}
    for item in items:
        by_key[(item.term_id, item.id)] = item  # a later copy of the same row wins
    if not by_key:
        return IngestResult(days=set())
    existing = {
        (term, vid): (raw, when)
        for term, vid, raw, when in Transaction.objects.filter(
            account=account, vendista_id__in=[k[1] for k in by_key]).values_list("term_id", "vendista_id", "raw",
                                                                                 "time")
    }
    changed = [i for key, i in by_key.items() if key not in existing or existing[key][0] != i.raw]
    old_days = {existing[(i.term_id, i.id)][1].astimezone(zone).date()
                for i in changed if (i.term_id, i.id) in existing}
    rows = [
        Transaction(account=account, term_id=i.term_id, vendista_id=i.id, time=i.time.replace(tzinfo=zone),
                    sum_minor=i.sum, machine_item_id=i.machine_item_id, card_number=i.card_number, status=i.status,
                    result=i.result, reverse_id=i.reverse_id, is_refund=i.is_refund, raw=i.raw,
                    previous_time=existing[(i.term_id, i.id)][1] if (i.term_id, i.id) in existing else None)
        for i in changed
    ]
    Transaction.objects.bulk_create(
        rows, batch_size=2000, update_conflicts=True, unique_fields=["account", "term_id", "vendista_id"],
        update_fields=["time", "sum_minor", "machine_item_id", "card_number", "status", "result", "reverse_id",
                       "is_refund", "raw", "synced_at", "previous_time"],
    )
    inserted = sum(1 for i in changed if (i.term_id, i.id) not in existing)
    return IngestResult(received=len(by_key), inserted=inserted, updated=len(changed) - inserted,
                        days={i.time.date() for i in by_key.values()} | old_days)


# --- rollups ----------------------------------------------------------------------------------------------

ROLLUP_INSERT = (
    "INSERT INTO vending_dailyrollup (account_id, term_id, day, revenue_gross, transactions_count, refunds_count,"
    " refunds_sum, updated_at) SELECT %s, agg.*, now() FROM ({aggregate}) AS agg"
)


def rollups_rebuild(*, account: VendistaAccount, days: Iterable[date]) -> int:
    """Recompute the daily rollups of ``days`` (local dates) from the raw rows, set-based (VEN-4)."""
    wanted = sorted(set(days))
    if not wanted:
        return 0
    zone = account.zone
    start = datetime.combine(wanted[0], time.min, tzinfo=zone)
    end = datetime.combine(wanted[-1] + timedelta(days=1), time.min, tzinfo=zone)
    contiguous = (wanted[-1] - wanted[0]).days + 1 == len(wanted)
    qs = Transaction.objects.filter(account=account, time__gte=start, time__lt=end).annotate(
        day=TruncDate("time", tzinfo=zone))
    if not contiguous:
        qs = qs.filter(day__in=wanted)
    aggregated = qs.values("term_id", "day").annotate(
        revenue_gross=Coalesce(Sum("sum_minor", filter=Q(is_refund=False)), 0),
        transactions_count=Count("id", filter=Q(is_refund=False)),
        refunds_count=Count("id", filter=Q(is_refund=True)),
        refunds_sum=Coalesce(Sum(Abs("sum_minor"), filter=Q(is_refund=True)), 0),
    ).order_by()
    with transaction.atomic():
        stale = DailyRollup.objects.filter(account=account, day__gte=wanted[0], day__lte=wanted[-1])
        if not contiguous:
            stale = stale.filter(day__in=wanted)
        stale._raw_delete(stale.db)  # no cascades or signals hang off rollups
        if connection.vendor == "postgresql":
            # The same aggregate, written by the database itself: no rows travel through Python.
            sql, params = aggregated.values_list(
                "term_id", "day", "revenue_gross", "transactions_count", "refunds_count", "refunds_sum",
            ).query.sql_with_params()
            insert = ROLLUP_INSERT.replace("{aggregate}", sql)
            with connection.cursor() as cursor:
                cursor.execute(insert, [account.pk, *params])  # the inner SQL is compiled by the ORM
                return cursor.rowcount
        rows = [DailyRollup(account=account, **values) for values in aggregated]
        DailyRollup.objects.bulk_create(rows, batch_size=5000)
    return len(rows)


# --- sync runs ----------------------------------------------------------------------------------------------

def _local(value: datetime) -> str:
    return value.strftime(LOCAL_FORMAT)


def sync_window(*, account: VendistaAccount, mode: str, date_from: date | None = None,
                date_to: date | None = None) -> tuple[datetime, datetime]:
    """The (local, naive) window a new run reads; frozen into the run so a resume reads the same."""
    now_local = timezone.now().astimezone(account.zone).replace(tzinfo=None, microsecond=0)
    if mode == Mode.RANGE:
        start = datetime.combine(date_from or now_local.date(), time.min)
        end = datetime.combine(date_to or now_local.date(), time(23, 59, 59))
        return start, min(end, now_local)
    if mode == Mode.INCREMENTAL:
        newest = Transaction.objects.filter(account=account).aggregate(newest=Max("time"))["newest"]
        if newest is None:
            start = now_local - timedelta(days=settings.VENDISTA_INITIAL_SYNC_DAYS)
        else:
            overlap = timedelta(minutes=settings.VENDISTA_INCREMENTAL_OVERLAP_MINUTES)
            start = newest.astimezone(account.zone).replace(tzinfo=None, microsecond=0) - overlap
        return start, now_local
    return datetime.fromisoformat(settings.VENDISTA_HISTORY_START), now_local


def sync_request(*, account: VendistaAccount, mode: str = Mode.INCREMENTAL, date_from: date | None = None,
                 date_to: date | None = None, enqueue: bool = True) -> SyncRun:
    """Create a queued run (or return the account's unfinished one) and enqueue it after commit."""
    unfinished = SyncRun.objects.filter(
        kind=KIND, account_ref=str(account.pk), status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]
    ).first()
    if unfinished is not None and not sync_run_is_stale(run=unfinished):
        return unfinished
    start, end = sync_window(account=account, mode=mode, date_from=date_from, date_to=date_to)
    run = sync_run_create(
        merchant=account.merchant, kind=KIND, account_ref=str(account.pk), mode=mode,
        params={"date_from": _local(start), "date_to": _local(end), "next_page": 1, "done": 0},
    )
    if enqueue:
        from .tasks import sync_run_execute

        transaction.on_commit(lambda: sync_run_execute.delay(run.pk))
    return run


def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=5)


def _lock_key(account_id: int | str) -> str:
    return f"merchant-ops:vending:sync-lock:{account_id}"


def sync_run_is_stale(*, run: SyncRun) -> bool:
    """Unfinished, and nobody holds its account's lock (the worker running it died)."""
    if run.status not in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING):
        return False
    if run.status == SyncRun.Status.QUEUED and timezone.now() - run.created_at < timedelta(minutes=10):
        return False
    return not _redis().exists(_lock_key(run.account_ref))


class _Fetcher(threading.Thread):
    """Reads pages ahead of the database writer (network wait and SQL overlap); bounded queue."""

    def __init__(self, client: VendistaClient, start: datetime, end: datetime, first_page: int) -> None:
        super().__init__(name="vendista-fetch", daemon=True)
        self.client, self.start_at, self.end_at, self.page = client, start, end, first_page
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=3)
        self.stop = threading.Event()
        self.last_page: int | None = None

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                page = self.client.transactions_page_raw(page=self.page, date_from=self.start_at, date_to=self.end_at)
                if self.last_page is None and page.items_count is not None:
                    self.last_page = max(1, math.ceil(page.items_count / page.requested_size))
                elif page.items_count is None:
                    # No readable envelope count: decode this page to apply the stop rule.
                    body = json.loads(page.body)
                    items = body.get("items") or [] if isinstance(body, dict) else []
                    if len(items) < page.requested_size:
                        self.last_page = self.page
                self._put(page)
                if self.last_page is not None and self.page >= self.last_page:
                    self._put(None)
                    return
                self.page += 1
        except BaseException as exc:  # handed to the writer, which raises it
            self._put(exc)
        finally:
            connections.close_all()

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.pages.put(item, timeout=0.5)
                return
            except queue.Full:
                continue


def transactions_sync(*, run: SyncRun, base_url: str | None = None) -> SyncRun:
    """Execute (or resume) a queued run. Safe to call twice: the second one waits for or skips the lock."""
    account = VendistaAccount.objects.select_related("merchant").get(pk=int(run.account_ref))
    lock = _redis().lock(_lock_key(account.pk), timeout=settings.VENDISTA_SYNC_LOCK_SECONDS, blocking=False)
    if not lock.acquire():
        log.info("vendista sync of account %s already running; run %s left to it", account.pk, run.pk)
        return run
    try:
        return _sync_locked(run=run, account=account, lock=lock, base_url=base_url)
    finally:
        with contextlib.suppress(redis.exceptions.LockError):
            lock.release()


def _sync_locked(*, run: SyncRun, account: VendistaAccount, lock: Any, base_url: str | None) -> SyncRun:
    run.refresh_from_db()
    if run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED):
        return run
    params = dict(run.params)
    start = datetime.fromisoformat(params["date_from"])
    end = datetime.fromisoformat(params["date_to"])
    first_page = int(params.get("next_page") or 1)
    done = int(params.get("done") or 0)
    sync_run_start(run=run, total=run.items_total)
    SyncRun.objects.filter(pk=run.pk).update(items_done=done)
    run.items_done = done
    started = time_module.monotonic()
    totals: dict[str, float] = {"received": 0, "inserted": 0, "updated": 0, "pages": 0, "rollup_days": 0,
              "resumed_from_page": first_page}
    client = account_client(account=account, base_url=base_url)
    try:
        if first_page == 1:
            try:
                totals["terminals"] = terminals_sync(account=account, client=client)
            except VendistaError:
                raise
            except IntegrationError as exc:
                log.warning("vendista terminals of account %s not refreshed: %s", account.pk, exc)
        if bulk_ingest_supported() and settings.VENDISTA_INGEST_WRITERS > 1 and not connection.in_atomic_block:
            _sync_pages_parallel(run=run, account=account, client=client, lock=lock, start=start, end=end,
                                 first_page=first_page, done=done, totals=totals)
        elif bulk_ingest_supported():
            _sync_pages_postgres(run=run, account=account, client=client, lock=lock, start=start, end=end,
                                 first_page=first_page, done=done, totals=totals)
        else:
            _sync_pages_portable(run=run, account=account, client=client, start=start, end=end,
                                 first_page=first_page, done=done, totals=totals)
    except Exception as exc:
        account_mark_error(account=account, exc=exc)
        totals["seconds"] = round(time_module.monotonic() - started, 3)
        if isinstance(exc, IntegrationError) and not exc.permanent:
            # Left running with its checkpoint: the task retries and resumes from next_page.
            SyncRun.objects.filter(pk=run.pk).update(counters=totals, error=f"retrying: {exc}"[:4000])
            raise
        sync_run_finish(run=run, error=f"{type(exc).__name__}: {exc}", counters=totals)
        raise
    totals["seconds"] = round(time_module.monotonic() - started, 3)
    VendistaAccount.objects.filter(pk=account.pk).update(
        last_sync_at=timezone.now(), last_error="", subscription_status=VendistaAccount.Subscription.ACTIVE)
    return sync_run_finish(run=run, counters=totals)


def _checkpoint(*, run: SyncRun, next_page: int, done: int, total: int | None) -> None:
    params = {**run.params, "next_page": next_page, "done": done}
    changes: dict[str, Any] = {"params": params, "items_done": done}
    if total is not None:
        changes["items_total"] = total
    SyncRun.objects.filter(pk=run.pk).update(**changes)
    run.params, run.items_done = params, done


def _sync_pages_postgres(*, run: SyncRun, account: VendistaAccount, client: VendistaClient, lock: Any,
                         start: datetime, end: datetime, first_page: int, done: int, totals: dict[str, Any]) -> None:
    fetcher = _Fetcher(client, start, end, first_page)
    fetcher.start()
    batch_days: set[date] = set()
    batch_rows = 0
    page_no = first_page
    try:
        while True:
            waited = time_module.perf_counter()
            item = fetcher.pages.get(timeout=settings.HTTP_READ_TIMEOUT * 10 + 180)
            totals["wait_seconds"] = round(totals.get("wait_seconds", 0.0) + time_module.perf_counter() - waited, 3)
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            # The page and the run's checkpoint commit together; rollups of the days written so far
            # are rebuilt before the checkpoint moves, so a resume never misses a day.
            db_started = time_module.perf_counter()
            with transaction.atomic():
                # A lost commit after a crash is re-read from the checkpoint (kept in the same
                # transaction), so this transaction need not wait for its WAL flush.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                result, last = transactions_ingest_raw_page(account=account, page=item)
                batch_days |= result.days or set()
                batch_rows += result.received
                done += result.received
                page_no = item.page + 1
                flush = last or batch_rows >= settings.VENDISTA_INGEST_BATCH
                if flush:
                    totals["rollup_days"] += len(batch_days)
                    rollups_rebuild(account=account, days=batch_days)
                    batch_days, batch_rows = set(), 0
                    _checkpoint(run=run, next_page=page_no, done=done, total=item.items_count)
                    lock.extend(settings.VENDISTA_SYNC_LOCK_SECONDS, replace_ttl=True)
                else:
                    SyncRun.objects.filter(pk=run.pk).update(items_done=F("items_done") + result.received,
                                                             **({"items_total": item.items_count}
                                                                if item.items_count is not None else {}))
            totals["db_seconds"] = round(totals.get("db_seconds", 0.0) + time_module.perf_counter() - db_started, 3)
            totals["received"] += result.received
            totals["inserted"] += result.inserted
            totals["updated"] += result.updated
            totals["pages"] += 1
            if last:
                break
    finally:
        fetcher.stop.set()
        fetcher.join(timeout=30)


def _sync_pages_portable(*, run: SyncRun, account: VendistaAccount, client: VendistaClient, start: datetime,
                         end: datetime, first_page: int, done: int, totals: dict[str, Any]) -> None:
    for page in client.iter_transaction_pages(date_from=start, date_to=end, start_page=first_page):
        with transaction.atomic():
            result = transactions_ingest(account=account, items=page.items)
            rollups_rebuild(account=account, days=result.days or set())
            done += len(page.items)
            _checkpoint(run=run, next_page=page.page_number + 1, done=done, total=page.items_count)
        totals["received"] += result.received
        totals["inserted"] += result.inserted
        totals["updated"] += result.updated
        totals["pages"] += 1


def sync_run_resume_stale() -> list[int]:
    """Re-enqueue unfinished runs whose worker died (their lock expired); they resume from the checkpoint."""
    from .tasks import sync_run_execute

    resumed = []
    for run in SyncRun.objects.filter(kind=KIND, status__in=[SyncRun.Status.QUEUED, SyncRun.Status.RUNNING]):
        if sync_run_is_stale(run=run):
            sync_run_execute.delay(run.pk)
            resumed.append(run.pk)
    return resumed


def sync_incremental_all() -> list[int]:
    resumed = set(sync_run_resume_stale())
    runs = []
    for account in VendistaAccount.objects.filter(is_active=True).select_related("merchant"):
        if account.subscription_status == VendistaAccount.Subscription.UNPAID and account.last_sync_at is None:
            continue
        run = sync_request(account=account, mode=Mode.INCREMENTAL)
        if run.pk not in resumed:
            runs.append(run.pk)
    return runs


def sync_nightly_due() -> list[int]:
    """Hourly: accounts whose local clock reads 00:xx get the previous days re-read (VEN-3)."""
    now = timezone.now()
    runs = []
    for account in VendistaAccount.objects.filter(is_active=True).select_related("merchant"):
        local = now.astimezone(account.zone)
        if local.hour != 0:
            continue
        yesterday = local.date() - timedelta(days=1)
        first = yesterday - timedelta(days=max(0, settings.VENDISTA_NIGHTLY_DAYS - 1))
        runs.append(sync_request(account=account, mode=Mode.RANGE, date_from=first, date_to=yesterday).pk)
    return runs


class _Writer(threading.Thread):
    """Upserts pages from the fetcher on its own database connection; reports each page to the sync."""

    def __init__(self, account: VendistaAccount, pages: queue.Queue[Any], results: queue.Queue[Any],
                 stop: threading.Event) -> None:
        super().__init__(name="vendista-write", daemon=True)
        self.account, self.pages, self.results, self.stop = account, pages, results, stop

    def run(self) -> None:
        try:
            with connection.cursor() as cursor:
                # A lost commit after a crash is re-read from the run's checkpoint.
                cursor.execute("SET synchronous_commit = off")
            while not self.stop.is_set():
                try:
                    item = self.pages.get(timeout=0.5)
                except queue.Empty:
                    continue
                if item is None or isinstance(item, BaseException):
                    self.pages.put(item)  # let the other writers see the end too
                    if isinstance(item, BaseException):
                        self.results.put(("error", item))
                    return
                started = time_module.perf_counter()
                for attempt in (1, 2):
                    try:
                        result, _ = transactions_ingest_raw_page(account=self.account, page=item)
                        break
                    except OperationalError as exc:
                        # Two pages holding the same rows (provider paging shifted) may deadlock: redo once.
                        if attempt == 2 or "deadlock" not in str(exc):
                            raise
                self.results.put(("page", item, result, time_module.perf_counter() - started))
        except BaseException as exc:
            self.results.put(("error", exc))
        finally:
            self.results.put(("done", None))
            connections.close_all()


def _sync_pages_parallel(*, run: SyncRun, account: VendistaAccount, client: VendistaClient, lock: Any,
                         start: datetime, end: datetime, first_page: int, done: int, totals: dict[str, Any]) -> None:
    """Pages are written by several connections in any order; the checkpoint only moves over a
    contiguous prefix of written pages, after the rollups of their days are rebuilt. Pages written
    past the checkpoint are simply read and upserted again by a resume (their days are rebuilt then)."""
    fetcher = _Fetcher(client, start, end, first_page)
    results: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    writers = [_Writer(account, fetcher.pages, results, stop) for _ in range(settings.VENDISTA_INGEST_WRITERS)]
    fetcher.start()
    for writer in writers:
        writer.start()
    completed: dict[int, IngestResult] = {}
    next_page = first_page
    batch_days: set[date] = set()
    batch_rows = 0
    items_total: int | None = None
    running = len(writers)

    def flush() -> None:
        nonlocal batch_days, batch_rows
        totals["rollup_days"] += len(batch_days)
        rollups_rebuild(account=account, days=batch_days)
        batch_days, batch_rows = set(), 0
        params = {**run.params, "next_page": next_page, "done": done}
        SyncRun.objects.filter(pk=run.pk).update(params=params, **({"items_total": items_total}
                                                                   if items_total is not None else {}))
        run.params = params
        lock.extend(settings.VENDISTA_SYNC_LOCK_SECONDS, replace_ttl=True)

    try:
        while running:
            message = results.get(timeout=settings.HTTP_READ_TIMEOUT * 10 + 180)
            if message[0] == "done":
                running -= 1
                continue
            if message[0] == "error":
                raise message[1]
            _, page, result, seconds = message
            totals["db_seconds"] = round(totals.get("db_seconds", 0.0) + seconds, 3)
            totals["received"] += result.received
            totals["inserted"] += result.inserted
            totals["updated"] += result.updated
            totals["pages"] += 1
            if page.items_count is not None:
                items_total = page.items_count
            SyncRun.objects.filter(pk=run.pk).update(items_done=F("items_done") + result.received,
                                                     **({"items_total": items_total} if items_total else {}))
            completed[page.page] = result
            while next_page in completed:
                ready = completed.pop(next_page)
                batch_days |= ready.days or set()
                batch_rows += ready.received
                done += ready.received
                next_page += 1
            if batch_rows >= settings.VENDISTA_INGEST_BATCH:
                flush()
        for number in sorted(completed):  # pages past a gap cannot exist once every writer is done
            batch_days |= completed[number].days or set()
            done += completed[number].received
            next_page = max(next_page, number + 1)
        flush()
        SyncRun.objects.filter(pk=run.pk).update(items_done=done)
        run.items_done = done
    finally:
        stop.set()
        fetcher.stop.set()
        fetcher.join(timeout=30)
        for writer in writers:
            writer.join(timeout=30)
