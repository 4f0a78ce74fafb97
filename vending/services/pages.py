"""The one page path of a transactions sync: a fetcher thread reads pages ahead, writers upsert them.

Pages are read in ascending time order against a window frozen at the start. They are written by
``VENDISTA_INGEST_WRITERS`` connections in any order (or by the calling thread when there is one
writer, or when the caller is inside a transaction whose rows other connections cannot see). The
checkpoint only moves over a contiguous prefix of written pages, after the rollups of their days are
rebuilt; pages written past the checkpoint are simply read and upserted again by a resume.

One call is one *step* of the run (``core.steps``): the fetcher reads no new page once the step's
deadline has passed (it always reads at least one), the pages already read are written, and the
checkpoint with the counters of exactly those pages is committed under the run's lease.
"""

from __future__ import annotations

import json
import math
import queue
import threading
import time as time_module
from collections import Counter
from datetime import date, datetime
from typing import Any

from django.conf import settings
from django.db import connection, connections

from core.models import SyncRun
from core.steps import Step

from ..clients.vendista import VendistaClient
from ..models import VendistaAccount
from .ingest import IngestResult, page_write
from .rollups import rollups_rebuild


class _Fetcher(threading.Thread):
    """Reads pages ahead of the database writers (network wait and SQL overlap); bounded queue."""

    def __init__(
        self, client: VendistaClient, start: datetime, end: datetime, first_page: int, deadline: float
    ) -> None:
        super().__init__(name="vendista-fetch", daemon=True)
        self.client, self.start_at, self.end_at, self.page = client, start, end, first_page
        self.first_page, self.deadline = first_page, deadline
        self.pages: queue.Queue[Any] = queue.Queue(maxsize=3)
        self.stop = threading.Event()
        self.last_page: int | None = None
        self.finished = False  # read the last page (not only stopped at the step's deadline)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                if self.page > self.first_page and time_module.monotonic() >= self.deadline:
                    self._put(None)  # the step's time is up: what was read is written, the next step goes on
                    return
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
                    self.finished = True
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


def _write_next(account: VendistaAccount, pages: queue.Queue[Any], timeout: float) -> tuple[Any, ...]:
    """Take one page from the fetcher and upsert it: ``("page", page, result, seconds)``, ``("done",)``
    at the end (the end marker is put back for the other writers) or ``("error", exc)``."""
    item = pages.get(timeout=timeout)
    if item is None or isinstance(item, BaseException):
        pages.put(item)
        return ("error", item) if isinstance(item, BaseException) else ("done",)
    started = time_module.perf_counter()
    result, _ = page_write(account=account, page=item)
    return ("page", item, result, time_module.perf_counter() - started)


class _Writer(threading.Thread):
    """Upserts pages from the fetcher on its own database connection; reports each page to the sync."""

    def __init__(
        self, account: VendistaAccount, pages: queue.Queue[Any], results: queue.Queue[Any], stop: threading.Event
    ) -> None:
        super().__init__(name="vendista-write", daemon=True)
        self.account, self.pages, self.results, self.stop = account, pages, results, stop

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    message = _write_next(self.account, self.pages, timeout=0.5)
                except queue.Empty:
                    continue
                if message[0] != "page":
                    if message[0] == "error":
                        self.results.put(message)
                    return
                self.results.put(message)
        except BaseException as exc:
            self.results.put(("error", exc))
        finally:
            self.results.put(("done",))
            connections.close_all()


def pages_sync(
    *,
    run: SyncRun,
    account: VendistaAccount,
    client: VendistaClient,
    lease: Step,
    start: datetime,
    end: datetime,
    first_page: int,
    done: int,
    deadline: float,
) -> bool:
    """Read and write pages from ``first_page`` until the last one (``True``) or the deadline (``False``)."""
    fetcher = _Fetcher(client, start, end, first_page, deadline)
    results: queue.Queue[Any] = queue.Queue()
    stop = threading.Event()
    wait = settings.HTTP_READ_TIMEOUT * 10 + 180
    inline = settings.VENDISTA_INGEST_WRITERS <= 1 or connection.in_atomic_block
    writers = (
        []
        if inline
        else [_Writer(account, fetcher.pages, results, stop) for _ in range(settings.VENDISTA_INGEST_WRITERS)]
    )
    fetcher.start()
    for writer in writers:
        writer.start()
    completed: dict[int, tuple[IngestResult, float]] = {}
    next_page = first_page
    batch_days: set[date] = set()
    batch_rows = 0
    # Counters of the pages behind the next checkpoint: committed with it, so each page counts once.
    batch: Counter[str] = Counter()
    db_seconds = 0.0
    items_total: int | None = None
    running = len(writers) or 1

    def take(result: IngestResult, seconds: float) -> None:
        nonlocal batch_days, batch_rows, done, db_seconds
        batch_days |= result.days or set()
        batch_rows += result.received
        done += result.received
        batch.update(received=result.received, inserted=result.inserted, updated=result.updated, pages=1)
        db_seconds += seconds

    def flush() -> None:
        nonlocal batch_days, batch_rows, db_seconds
        batch["rollup_days"] += len(batch_days)
        rollups_rebuild(account=account, days=batch_days)
        add: dict[str, float] = {**batch, "db_seconds": round(db_seconds, 3)}
        lease.checkpoint(params={"next_page": next_page, "done": done}, done=done, total=items_total, add=add)
        batch_days, batch_rows, db_seconds = set(), 0, 0.0
        batch.clear()

    try:
        while running:
            message = _write_next(account, fetcher.pages, wait) if inline else results.get(timeout=wait)
            if message[0] == "done":
                running -= 1
                continue
            if message[0] == "error":
                raise message[1]
            _, page, result, seconds = message
            if page.items_count is not None:
                items_total = page.items_count
            lease.progress(done=result.received, total=items_total)
            completed[page.page] = (result, seconds)
            while next_page in completed:
                take(*completed.pop(next_page))
                next_page += 1
            if batch_rows >= settings.VENDISTA_INGEST_BATCH:
                flush()
        for number in sorted(completed):  # pages past a gap cannot exist once every writer is done
            take(*completed[number])
            next_page = max(next_page, number + 1)
        flush()
    finally:
        stop.set()
        fetcher.stop.set()
        fetcher.join(timeout=30)
        for writer in writers:
            writer.join(timeout=30)
    return fetcher.finished
