# ruff: noqa: S608  -- the SQL is built from this module's constants and the models' own table and
# column names; every value is a bound parameter.
"""The common case of a webhook delivery, applied in one SQL statement (PERF-4).

A stored delivery that pays a pending order (YooKassa ``waiting_for_capture`` / ``succeeded``, T-Bank
``AUTHORIZED`` / ``CONFIRMED``) is what every sale goes through, on the path the buyer waits on. The
general path (``core.inbox`` + ``payments._apply_status``) makes the same changes in ten round trips
and ~5 ms of ORM work on this project's machine: BEGIN, the delivery claimed (``SELECT … FOR UPDATE``),
the payment locked, the payment's status, the order's conditional move, its two events, the brew
command, the delivery's outcome, COMMIT. Here they are one statement (data-modifying CTEs) run in
autocommit, so it commits by itself:

- the delivery is locked first, and only if it is still claimable, is linked to a payment and
  carries a paying status — a delivery another worker processed meanwhile is not seen (the lock
  waits, then PostgreSQL re-checks the row);
- its payment is locked (as the general path locks it: captures, refunds and other deliveries of
  the payment wait or are waited for);
- the order moves pending → make_pending with one conditional UPDATE (the arbiter of "one brew",
  with the command's unique one-to-one); **every other write depends on that row**, so an order
  that is not pending (expired, already paid, failed) changes nothing here and the general path
  handles the delivery (late payments refunded, duplicates ignored — PAY-7, PAY-8);
- then, each from the moved order: the payment's status raised (never lowered: the same rank as
  ``STATUS_RANK``), both transition events (pending → paid, paid → make_pending) with the general path's
  notes, the brew command created claimed (``sending``, attempt 1, its deadline:
  ``brew_create_claimed``), and the delivery processed with its attempt counted.

None of it is a second state machine: each move is checked against the state tables at import
(``ORDER_STATUS``, ``BREW_STATUS``, the inbox's), and ``tests/payments/test_pay_at_once.py`` checks
that this path and the general one leave the very same rows. Anything unexpected (a constraint, the
database away) raises nothing from here: the caller goes on with the general path, which records
failures and retries (``core.inbox``).
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from functools import lru_cache

from django.conf import settings
from django.db import DatabaseError, connection, transaction
from django.db.models import Model
from django.utils import timezone

from core.inbox import INBOX_TRANSITIONS, InboxStatus
from payments.models import BrewCommand, Device, Order, OrderEvent, OrderStatus, Payment, WebhookDelivery

from .transitions import BREW_STATUS, ORDER_STATUS

log = logging.getLogger("payments")

# What the general path makes of a paying delivery (``_apply_status(claim=True)``).
PAYING = (Payment.Status.WAITING_FOR_CAPTURE, Payment.Status.SUCCEEDED)
CLAIMABLE = (InboxStatus.RECEIVED, InboxStatus.RETRY, InboxStatus.FAILED)
STEPS = ((OrderStatus.PENDING, OrderStatus.PAID), (OrderStatus.PAID, OrderStatus.MAKE_PENDING))
BREW_NOTE = "brew command"  # the second step's note, as _apply_status writes it
OUTCOME_NOTE = "paid"  # the delivery's outcome, as _delivery_apply records it

for _from, _to in STEPS:
    assert ORDER_STATUS.can(_from, _to), f"order {_from} -> {_to} left the state table"
assert BREW_STATUS.can(BrewCommand.Status.QUEUED, BrewCommand.Status.SENDING), "brew queued -> sending left the table"
assert all(InboxStatus.PROCESSING in INBOX_TRANSITIONS[s] for s in CLAIMABLE), "inbox claim left the table"
assert InboxStatus.PROCESSED in INBOX_TRANSITIONS[InboxStatus.PROCESSING], "inbox outcome left the table"


def _t(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _c(model: type[Model], field: str) -> str:
    column = model._meta.get_field(field).column  # type: ignore[union-attr]  # a concrete field
    assert column is not None
    return connection.ops.quote_name(column)


def _rank(expression: str, rank: dict[str, int]) -> str:
    cases = " ".join(f"WHEN '{status}' THEN {value}" for status, value in rank.items())
    return f"(CASE {expression} {cases} ELSE -1 END)"


@lru_cache(maxsize=1)
def _statement() -> str:
    from .payments import STATUS_RANK  # the general path's rank: one definition

    W, P, R, E, B, D = WebhookDelivery, Payment, Order, OrderEvent, BrewCommand, Device  # R: the order
    claimable = ", ".join(f"'{s}'" for s in CLAIMABLE)
    paying = ", ".join(f"'{s}'" for s in PAYING)
    steps = ", ".join(
        f"('{a}', '{b}', {i})" for i, (a, b) in enumerate(STEPS)
    )  # the notes are parameters: the first names the event
    return f"""
WITH d AS (
    SELECT {_c(W, "id")} AS id, {_c(W, "payment")} AS payment_id, {_c(W, "verified_status")} AS status,
           {_c(W, "event")} AS event
      FROM {_t(W)}
     WHERE {_c(W, "id")} = %(delivery)s AND {_c(W, "status")} IN ({claimable})
       AND {_c(W, "payment")} IS NOT NULL AND {_c(W, "verified_status")} IN ({paying})
       FOR UPDATE
), p AS (
    SELECT pay.{_c(P, "id")} AS id, pay.{_c(P, "order")} AS order_id
      FROM {_t(P)} pay JOIN d ON pay.{_c(P, "id")} = d.payment_id
       FOR UPDATE OF pay
), o AS (
    UPDATE {_t(R)} o SET {_c(R, "status")} = '{OrderStatus.MAKE_PENDING}', {_c(R, "updated_at")} = %(now)s
      FROM p
     WHERE o.{_c(R, "id")} = p.order_id AND o.{_c(R, "status")} = '{OrderStatus.PENDING}'
 RETURNING o.{_c(R, "id")} AS id, o.{_c(R, "device")} AS device_id, o.{_c(R, "merchant")} AS merchant_id,
           o.{_c(R, "drink_external_id")} AS drink_external_id, o.{_c(R, "size")} AS size,
           o.{_c(R, "amount")} AS amount
), pu AS (
    UPDATE {_t(P)} pay SET {_c(P, "status")} = d.status, {_c(P, "updated_at")} = %(now)s
      FROM d, o
     WHERE pay.{_c(P, "id")} = d.payment_id
       AND {_rank("pay." + _c(P, "status"), STATUS_RANK)} < {_rank("d.status", STATUS_RANK)}
), ev AS (
    INSERT INTO {_t(E)} ({_c(E, "order")}, {_c(E, "kind")}, {_c(E, "from_status")}, {_c(E, "to_status")},
                         {_c(E, "note")}, {_c(E, "at")})
    SELECT o.id, 'transition', step.from_status, step.to_status,
           CASE step.n WHEN 0 THEN left('webhook ' || d.event || ': payment ' || d.status, 1000)
                       ELSE %(brew_note)s END,
           %(now)s
      FROM o CROSS JOIN d CROSS JOIN (VALUES {steps}) AS step (from_status, to_status, n)
  ORDER BY step.n
), cmd AS (
    INSERT INTO {_t(B)} ({_c(B, "order")}, {_c(B, "command_id")}, {_c(B, "channel")}, {_c(B, "status")},
                         {_c(B, "attempts")}, {_c(B, "error")}, {_c(B, "created_at")}, {_c(B, "sent_at")},
                         {_c(B, "deadline")})
    SELECT o.id, %(command_id)s, dev.{_c(D, "channel")}, '{BrewCommand.Status.SENDING}', 1, '', %(now)s, %(now)s,
           %(now)s + make_interval(secs => COALESCE(dev.{_c(D, "ack_timeout_seconds")}, %(ack_timeout)s))
      FROM o JOIN {_t(D)} dev ON dev.{_c(D, "id")} = o.device_id
 RETURNING {_c(B, "id")} AS id, {_c(B, "channel")} AS channel, {_c(B, "deadline")} AS deadline
), du AS (
    UPDATE {_t(W)} w SET {_c(W, "status")} = '{InboxStatus.PROCESSED}', {_c(W, "attempts")} = w.{_c(W, "attempts")} + 1,
           {_c(W, "processed_at")} = %(now)s, {_c(W, "updated_at")} = %(now)s,
           {_c(W, "last_error")} = %(outcome)s, {_c(W, "next_attempt_at")} = NULL
      FROM o
     WHERE w.{_c(W, "id")} = %(delivery)s
)
SELECT cmd.id, cmd.channel, cmd.deadline, o.id, o.merchant_id, o.drink_external_id, o.size, o.amount,
       dev.{_c(D, "id")}, dev.{_c(D, "code")}, dev.{_c(D, "external_id")}, dev.{_c(D, "ack_timeout_seconds")}
  FROM cmd CROSS JOIN o JOIN {_t(D)} dev ON dev.{_c(D, "id")} = o.device_id
"""


def pay_at_once(*, delivery_id: int) -> BrewCommand | None:
    """Apply a delivery that pays a pending order, in one statement; the claimed brew command (its
    order and device attached, ready for ``brew_publish``), or None when the delivery is anything
    else or the statement failed — nothing is changed then, and the general path takes it."""
    now = timezone.now()
    command_id = uuid.uuid4()
    params = {
        "delivery": delivery_id,
        "now": now,
        "command_id": command_id,
        "ack_timeout": settings.BREW_ACK_TIMEOUT_SECONDS,
        "brew_note": BREW_NOTE,
        "outcome": OUTCOME_NOTE,
    }
    try:
        # In autocommit (a task) the statement commits by itself; inside a caller's transaction a
        # savepoint keeps that transaction usable when the statement fails.
        block = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
        with block, connection.cursor() as cursor:
            cursor.execute(_statement(), params)
            row = cursor.fetchone()
    except DatabaseError as exc:
        log.warning("delivery %s: one-statement apply failed, the general path takes it: %s", delivery_id, exc)
        return None
    if row is None:
        return None
    (pk, channel, deadline, order_id, merchant_id, drink, size, amount, device_id, code, external_id, ack_timeout) = row
    device = Device(id=device_id, merchant_id=merchant_id, code=code, external_id=external_id, channel=channel)
    device.ack_timeout_seconds = ack_timeout
    order = Order(
        id=order_id,
        merchant_id=merchant_id,
        device=device,
        drink_external_id=drink,
        size=size,
        amount=amount,
        status=OrderStatus.MAKE_PENDING,
    )
    command = BrewCommand(
        id=pk,
        order=order,
        command_id=command_id,
        channel=channel,
        status=BrewCommand.Status.SENDING,
        attempts=1,
        sent_at=now,
        created_at=now,
        deadline=deadline,
    )
    for instance in (device, order, command):
        instance._state.adding = False  # rows that exist: a save() would UPDATE them
    return command
