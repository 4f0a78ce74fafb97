"""Bulk ingest of Vendista transaction pages into PostgreSQL (VEN-2): one statement per page."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from django.db import DataError, OperationalError, connection, transaction

from ..clients.vendista import RawTransactionPage, VendistaError, is_last_page
from ..models import VendistaAccount


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


def transactions_ingest_raw_page(*, account: VendistaAccount, page: RawTransactionPage) -> tuple[IngestResult, bool]:
    """Upsert one raw page in PostgreSQL; returns the result and whether it was the last page."""
    try:
        with connection.cursor() as cursor:
            cursor.execute(
                _PG_UPSERT, {"body": _without_nul_escapes(page.body), "account": account.pk, "tz": account.time_zone}
            )
            number, per_page, count, n_items, success, inserted, written, days, old_days = cursor.fetchone()
    except DataError as exc:
        raise VendistaError(
            f"malformed /transactions page {page.page} from Vendista: {exc}", service="vendista", permanent=True
        ) from exc
    if str(success).lower() == "false":
        raise VendistaError("Vendista /transactions answered without success", service="vendista")
    result = IngestResult(
        received=n_items or 0, inserted=inserted, updated=written - inserted, days={*(days or []), *(old_days or [])}
    )
    last = is_last_page(
        page_number=number or page.page,
        items_per_page=per_page or page.requested_size,
        items_count=count or 0,
        n_items=n_items or 0,
        requested_size=page.requested_size,
    )
    return result, last


def page_write(*, account: VendistaAccount, page: RawTransactionPage) -> tuple[IngestResult, bool]:
    """Upsert one page in its own transaction (the sync's only write path); redone once on a deadlock.

    Two pages holding the same rows (the provider's paging shifted) may deadlock when written by
    two connections at once. A lost commit after a crash is re-read from the run's checkpoint, so
    the transaction need not wait for its WAL flush.
    """
    for attempt in (1, 2):
        try:
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit = off")
                return transactions_ingest_raw_page(account=account, page=page)
        except OperationalError as exc:
            if attempt == 2 or "deadlock" not in str(exc):
                raise
    raise AssertionError("unreachable")
