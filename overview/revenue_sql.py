# ruff: noqa: S608  -- every string here is built from this module's constants; the one setting
# (TIME_ZONE) is checked against the zone database and quoted.
"""The revenue rollup's SQL: which rows count, and the triggers that keep it current (SPEC OWN-1).

Each source table has one *contribution* query: for a set of its rows it yields
``(merchant_id, day, channel, currency, kind, count, amount)``. A statement-level trigger per
source and operation runs it over the statement's transition tables (``new_rows`` added,
``old_rows`` subtracted) and adds the difference to ``overview_revenueday`` with an upsert. So
every writer (an ORM save, a bulk ``update()``, ``COPY``, ``INSERT … ON CONFLICT`` from the
Vendista ingest, raw SQL) moves the figure in the same transaction, and no domain app calls us.
The rebuild runs the same queries over the whole tables, so the two can never disagree.

Which rows count (also in SPEC OWN-1 and the README):
- qr: a Payment with status ``succeeded`` (captured at the provider) is a ``sale``; a succeeded
  Refund of kind ``refund`` is a ``return`` on the sale's day; a Payment ``canceled`` (hold
  released, never captured) is a ``cancel``. Amounts are kopecks / 100, RUB.
- vendista: a Transaction is a ``sale``, or a ``return`` when ``is_refund`` (absolute sum), RUB.
- kaspi: an order COMPLETED or RETURNED is a ``sale`` (it was sold), RETURNED is also a
  ``return``; CANCELLED/CANCELLING a ``cancel``; any other status ``open`` (not revenue yet). KZT.
- emag: status 4 finalized or 5 returned is a ``sale``, 5 is also a ``return``; 0 a ``cancel``;
  1-3 ``open``. Amount: the active lines' sale_price × quantity (ex-VAT, as eMAG sends it); the
  order's currency, else the platform's (RON, BGN, HUF).
Revenue (``net``) = sale − return, per currency; nothing is ever converted.

Days are local dates in the project's ``TIME_ZONE`` (one day boundary for every channel, so a
day's row adds up across channels); ``overview_local_day`` holds the zone and
``manage.py overview_rebuild`` re-creates it and recounts everything after a zone change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

TABLE = "overview_revenueday"
DAY_FUNCTION = "overview_local_day"

KASPI_SALE = ("COMPLETED", "RETURNED")
KASPI_RETURN = ("RETURNED",)
KASPI_CANCEL = ("CANCELLED", "CANCELLING")
EMAG_SALE = (4, 5)
EMAG_RETURN = (5,)
EMAG_CANCEL = (0,)


def _sql_list(values: tuple[object, ...]) -> str:
    return ", ".join(f"'{v}'" if isinstance(v, str) else str(v) for v in values)


def _kaspi_kind(col: str) -> str:
    return (
        f"CASE WHEN {col} IN ({_sql_list(KASPI_SALE)}) THEN 'sale' "
        f"WHEN {col} IN ({_sql_list(KASPI_CANCEL)}) THEN 'cancel' ELSE 'open' END"
    )


def _emag_kind(col: str) -> str:
    return (
        f"CASE WHEN {col} IN ({_sql_list(EMAG_SALE)}) THEN 'sale' "
        f"WHEN {col} IN ({_sql_list(EMAG_CANCEL)}) THEN 'cancel' ELSE 'open' END"
    )


EMAG_CURRENCY = (
    "COALESCE(NULLIF(o.currency, ''), CASE a.platform WHEN 'bg' THEN 'BGN' WHEN 'hu' THEN 'HUF' ELSE 'RON' END)"
)
EMAG_LINE_AMOUNT = "CASE WHEN COALESCE(i.status, 1) = 1 THEN COALESCE(i.sale_price, 0) * i.quantity ELSE 0 END"


@dataclass(frozen=True)
class Source:
    name: str
    table: str
    # SELECT merchant_id, day, channel, currency, kind, cnt, amt FROM {rows} ... ; {rows} is the
    # transition table in a trigger and the table itself in a rebuild ({merchant} filters it).
    contribution: str


SOURCES: tuple[Source, ...] = (
    Source(
        "qr_payment",
        "payments_payment",
        f"""SELECT o.merchant_id, {DAY_FUNCTION}(p.created_at) AS day, 'qr' AS channel, 'RUB' AS currency,
              CASE p.status WHEN 'succeeded' THEN 'sale' ELSE 'cancel' END AS kind,
              1::bigint AS cnt, p.amount / 100.0 AS amt
            FROM {{rows}} p JOIN payments_order o ON o.id = p.order_id
            WHERE p.status IN ('succeeded', 'canceled') {{merchant}}""",
    ),
    Source(
        "qr_refund",
        "payments_refund",
        f"""SELECT o.merchant_id, {DAY_FUNCTION}(p.created_at), 'qr', 'RUB', 'return', 1::bigint, r.amount / 100.0
            FROM {{rows}} r JOIN payments_payment p ON p.id = r.payment_id JOIN payments_order o ON o.id = p.order_id
            WHERE r.kind = 'refund' AND r.status = 'succeeded' {{merchant}}""",
    ),
    Source(
        "vendista",
        "vending_transaction",
        f"""SELECT a.merchant_id, {DAY_FUNCTION}(t.time), 'vendista', 'RUB',
              CASE WHEN t.is_refund THEN 'return' ELSE 'sale' END, 1::bigint, abs(t.sum_minor) / 100.0
            FROM {{rows}} t JOIN vending_vendistaaccount a ON a.id = t.account_id
            WHERE true {{merchant}}""",
    ),
    Source(
        "kaspi",
        "marketplaces_kaspiorder",
        f"""SELECT s.merchant_id, {DAY_FUNCTION}(k.creation_date), 'kaspi', 'KZT', {_kaspi_kind("k.status")},
              1::bigint, k.total_price::numeric
            FROM {{rows}} k JOIN marketplaces_kaspistore s ON s.id = k.store_id WHERE true {{merchant}}
            UNION ALL
            SELECT s.merchant_id, {DAY_FUNCTION}(k.creation_date), 'kaspi', 'KZT', 'return', 1::bigint,
              k.total_price::numeric
            FROM {{rows}} k JOIN marketplaces_kaspistore s ON s.id = k.store_id
            WHERE k.status IN ({_sql_list(KASPI_RETURN)}) {{merchant}}""",
    ),
    Source(
        # An order counts once; its amount is its lines' (the line trigger below moves amounts).
        "emag_order",
        "marketplaces_emag_emagorder",
        f"""SELECT a.merchant_id, {DAY_FUNCTION}(COALESCE(o.date, o.first_seen_at)), 'emag',
              {EMAG_CURRENCY}, kinds.kind,
              1::bigint, COALESCE((SELECT sum({EMAG_LINE_AMOUNT}) FROM marketplaces_emag_emagorderitem i
                                   WHERE i.order_id = o.id), 0)
            FROM {{rows}} o JOIN marketplaces_emag_emagaccount a ON a.id = o.account_id
            CROSS JOIN LATERAL (SELECT {_emag_kind("o.status")} AS kind
                                UNION ALL SELECT 'return' WHERE o.status IN ({_sql_list(EMAG_RETURN)})) kinds
            WHERE true {{merchant}}""",
    ),
    Source(
        # A line moves the amount of its order's current kinds; the order itself counts the order.
        "emag_line",
        "marketplaces_emag_emagorderitem",
        f"""SELECT a.merchant_id, {DAY_FUNCTION}(COALESCE(o.date, o.first_seen_at)), 'emag',
              {EMAG_CURRENCY}, kinds.kind,
              0::bigint, {EMAG_LINE_AMOUNT}
            FROM {{rows}} i JOIN marketplaces_emag_emagorder o ON o.id = i.order_id
            JOIN marketplaces_emag_emagaccount a ON a.id = o.account_id
            CROSS JOIN LATERAL (SELECT {_emag_kind("o.status")} AS kind
                                UNION ALL SELECT 'return' WHERE o.status IN ({_sql_list(EMAG_RETURN)})) kinds
            WHERE true {{merchant}}""",
    ),
)

# The rebuild counts lines through the order query, so the line source is trigger-only.
REBUILD_SOURCES = tuple(s for s in SOURCES if s.name != "emag_line")

UPSERT = f"""INSERT INTO {TABLE} (merchant_id, day, channel, currency, kind, count, amount)
SELECT merchant_id, day, channel, currency, kind, sum(cnt), sum(amt) FROM ({{deltas}}) d
GROUP BY 1, 2, 3, 4, 5 HAVING sum(cnt) <> 0 OR sum(amt) <> 0
ORDER BY 1, 2, 3, 4, 5
ON CONFLICT (merchant_id, day, channel, currency, kind) DO UPDATE
SET count = {TABLE}.count + EXCLUDED.count, amount = {TABLE}.amount + EXCLUDED.amount"""


def _contribution(source: Source, rows: str, sign: int, merchant: str = "") -> str:
    inner = source.contribution.replace("{rows}", rows).replace("{merchant}", merchant)
    if sign > 0:
        return inner
    return (
        "SELECT merchant_id, day, channel, currency, kind, -cnt, -amt"
        f" FROM ({inner}) neg(merchant_id, day, channel, currency, kind, cnt, amt)"
    )


def _named(source: Source, rows: str, sign: int) -> str:
    inner = _contribution(source, rows, sign)
    return f"SELECT * FROM ({inner}) c(merchant_id, day, channel, currency, kind, cnt, amt)"


def day_function_sql(time_zone: str) -> str:
    ZoneInfo(time_zone)  # an unknown zone fails here, not inside every later write
    zone = time_zone.replace("'", "''")
    return (
        f"CREATE OR REPLACE FUNCTION {DAY_FUNCTION}(ts timestamptz) RETURNS date "
        f"LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT (ts AT TIME ZONE '{zone}')::date $$"
    )


def triggers_sql() -> str:
    parts: list[str] = []
    for source in SOURCES:
        for op, deltas, refs in (
            ("INSERT", _named(source, "new_rows", +1), "NEW TABLE AS new_rows"),
            ("DELETE", _named(source, "old_rows", -1), "OLD TABLE AS old_rows"),
            (
                "UPDATE",
                f"{_named(source, 'new_rows', +1)} UNION ALL {_named(source, 'old_rows', -1)}",
                "NEW TABLE AS new_rows OLD TABLE AS old_rows",
            ),
        ):
            fn = f"overview_{source.name}_{op.lower()}"
            body = UPSERT.replace("{deltas}", deltas)
            parts.append(
                f"CREATE OR REPLACE FUNCTION {fn}() RETURNS trigger LANGUAGE plpgsql AS $body$\n"
                f"BEGIN\n{body};\nRETURN NULL;\nEND\n$body$;\n"
                f"DROP TRIGGER IF EXISTS {fn} ON {source.table};\n"
                f"CREATE TRIGGER {fn} AFTER {op} ON {source.table} REFERENCING {refs} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION {fn}();"
            )
    return "\n".join(parts)


def triggers_drop_sql() -> str:
    parts = []
    for source in SOURCES:
        for op in ("insert", "delete", "update"):
            fn = f"overview_{source.name}_{op}"
            parts.append(f"DROP TRIGGER IF EXISTS {fn} ON {source.table}; DROP FUNCTION IF EXISTS {fn}();")
    return "\n".join(parts)


def rebuild_sql(*, merchant_id: int | None) -> list[tuple[str, list[Any]]]:
    """Delete and recount the rollup (of one merchant, or all) from the source tables."""
    params: list[Any] = []
    deletes = f"DELETE FROM {TABLE}" + (" WHERE merchant_id = %s" if merchant_id is not None else "")
    selects = []
    for source in REBUILD_SOURCES:
        alias_merchant = {
            "qr_payment": "o.merchant_id",
            "qr_refund": "o.merchant_id",
            "vendista": "a.merchant_id",
            "kaspi": "s.merchant_id",
            "emag_order": "a.merchant_id",
        }[source.name]
        flt = f"AND {alias_merchant} = %s" if merchant_id is not None else ""
        contribution = _contribution(source, source.table, +1, flt)
        if merchant_id is not None:
            params.extend([merchant_id] * contribution.count("%s"))
        selects.append(f"SELECT * FROM ({contribution}) c(merchant_id, day, channel, currency, kind, cnt, amt)")
    insert = UPSERT.replace("{deltas}", " UNION ALL ".join(selects))
    return [(deletes, [merchant_id] if merchant_id is not None else []), (insert, params)]
