"""Writes of the vending app, one module per concern (SPEC VEN-1..4).

- ``accounts``: the rate-limited client per account, connection test, error marking;
- ``terminals``: terminal refresh, the staff-set link to a payments device;
- ``ingest``: one PostgreSQL statement per transactions page;
- ``rollups``: daily rollups rebuilt inside the database;
- ``runs``: sync requests, windows, stale runs, periodic jobs;
- ``pages``: the one page path (fetcher thread, writers, checkpoint);
- ``sync``: a run's step (``core.steps`` executes it) and executing a run in one call.

``SyncRun`` rows are written only through ``core.services``.
"""

from __future__ import annotations

from .accounts import ConnectionResult, account_client, account_limiter, account_mark_error, account_test_connection
from .ingest import IngestResult, page_write, transactions_ingest_raw_page
from .rollups import rollups_rebuild
from .runs import (
    LOCAL_FORMAT,
    sync_incremental_all,
    sync_nightly_due,
    sync_request,
    sync_run_is_stale,
    sync_run_resume_stale,
    sync_window,
)
from .sync import transactions_step, transactions_sync
from .terminals import terminal_link_device, terminals_sync

__all__ = [
    "LOCAL_FORMAT",
    "ConnectionResult",
    "IngestResult",
    "account_client",
    "account_limiter",
    "account_mark_error",
    "account_test_connection",
    "page_write",
    "rollups_rebuild",
    "sync_incremental_all",
    "sync_nightly_due",
    "sync_request",
    "sync_run_is_stale",
    "sync_run_resume_stale",
    "sync_window",
    "terminal_link_device",
    "terminals_sync",
    "transactions_ingest_raw_page",
    "transactions_step",
    "transactions_sync",
]
