"""eMAG orders (SPEC MKT-2, MKT-2b, MKT-3, MKT-7): store what eMAG says, sweep, callbacks, writes.

eMAG is the source of truth for an order: ``order_store`` mirrors the order as read (changed or
cancelled upstream included), keyed by (account, eMAG id) under a unique constraint and a row lock,
so the callback, the sweep and a manual sync running at once never duplicate an order. The only
status move we make ourselves is acknowledge (new → in progress), through ``ORDER_STATUS``.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext

from core.inbox import Handled, Inbox, InboxStatus, inbox_process, inbox_register, inbox_sweep
from core.models import SyncRun
from core.selectors import sync_run_account, sync_runs_of
from core.services import UNFINISHED, sync_run_create, sync_run_finish, sync_run_is_stale
from core.steps import Step, StepRetry, sync_run_execute
from core.transitions import StateTable

from .. import codes
from ..clients.emag import MAX_PAGE_SIZE, EmagClient, EmagError, date_windows, parse_emag_datetime
from ..models import EmagAccount, EmagCallback, EmagOrder, EmagOrderItem
from . import validation
from .accounts import account_client
from .monitoring import KIND_OFFERS, KIND_ORDERS
from .values import decimal_or_none, int_or_none, text_cut

log = logging.getLogger(__name__)

# StateTable speaks text; eMAG's status codes are integers, so the table holds them as text.
_CANCELED, _NEW, _IN_PROGRESS, _PREPARED, _FINALIZED, _RETURNED = (str(int(s)) for s in EmagOrder.Status)
ORDER_STATUS = StateTable(
    EmagOrder,
    "status",
    {
        _CANCELED: set(),
        _NEW: {_IN_PROGRESS, _CANCELED},
        _IN_PROGRESS: {_PREPARED, _FINALIZED, _CANCELED},
        _PREPARED: {_FINALIZED, _CANCELED},
        _FINALIZED: {_RETURNED},
        _RETURNED: set(),
    },
)


# --- mapping eMAG's order onto our columns ---------------------------------------------------------------
def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def order_fields(payload: dict[str, Any]) -> dict[str, Any]:
    customer = payload.get("customer") if isinstance(payload.get("customer"), dict) else {}
    details = payload.get("details")
    status = int_or_none(payload.get("status"))
    return {
        "status": status if status in codes.ORDER_STATUSES else 1,
        "type": int_or_none(payload.get("type")),
        "date": parse_emag_datetime(payload.get("date")),
        "modified": parse_emag_datetime(payload.get("modified")),
        "payment_mode_id": int_or_none(payload.get("payment_mode_id")),
        "payment_mode": text_cut(payload.get("payment_mode"), 80),
        "detailed_payment_method": text_cut(payload.get("detailed_payment_method"), 120),
        "payment_status": int_or_none(payload.get("payment_status")),
        "cashed_co": decimal_or_none(payload.get("cashed_co")),
        "cashed_cod": decimal_or_none(payload.get("cashed_cod")),
        "shipping_tax": decimal_or_none(payload.get("shipping_tax")),
        "shipping_tax_voucher_split": _list(payload.get("shipping_tax_voucher_split")),
        "currency": text_cut(payload.get("currency"), 8),
        "customer": customer or {},
        "customer_name": text_cut((customer or {}).get("name"), 200),
        "vouchers": _list(payload.get("vouchers")),
        "cancellation_reason": int_or_none(payload.get("cancellation_reason")),
        "cancellation_request": text_cut(payload.get("cancellation_request"), 200),
        "is_storno": bool(payload.get("is_storno")),
        "is_complete": bool(payload.get("is_complete")),
        "delivery_mode": text_cut(payload.get("delivery_mode"), 40),
        "details": details if isinstance(details, dict) else {"items": details} if details else {},
        "refunded_amount": decimal_or_none(payload.get("refunded_amount")),
        "refund_status": text_cut(payload.get("refund_status"), 40),
        "maximum_date_for_shipment": parse_emag_datetime(payload.get("maximum_date_for_shipment")),
        "finalization_date": parse_emag_datetime(payload.get("finalization_date")),
        "late_shipment": int_or_none(payload.get("late_shipment")),
        "parent_id": int_or_none(payload.get("parent_id")),
        "emag_club": bool(payload.get("emag_club")),
        "observation": text_cut(payload.get("observation"), 5000),
        "sales_channel": text_cut(payload.get("sales_channel"), 40),
        "flags": _list(payload.get("flags")),
        "attachments": _list(payload.get("attachments")),
        "raw": payload,
    }


def item_fields(line: dict[str, Any]) -> dict[str, Any]:
    details = line.get("details")
    return {
        "product_id": int_or_none(line.get("product_id")),
        "part_number": text_cut(line.get("part_number"), 120),
        "part_number_key": text_cut(line.get("part_number_key"), 40),
        "name": text_cut(line.get("name"), 500),
        "quantity": int_or_none(line.get("quantity")) or 0,
        "initial_qty": int_or_none(line.get("initial_qty")),
        "storno_qty": int_or_none(line.get("storno_qty")),
        "sale_price": decimal_or_none(line.get("sale_price")),
        "original_price": decimal_or_none(line.get("original_price")),
        "vat": text_cut(line.get("vat"), 16),
        "currency": text_cut(line.get("currency"), 8),
        "status": int_or_none(line.get("status")),
        "details": details if isinstance(details, dict) else {"items": details} if details else {},
        "raw": line,
    }


# --- storing ---------------------------------------------------------------------------------------------
def order_store(*, account: EmagAccount, payload: dict[str, Any]) -> tuple[EmagOrder, str]:
    """Create or update the order from eMAG's dict; return it and "created", "updated", "unchanged" or "stale"."""
    emag_id = int_or_none(payload.get("id"))
    if emag_id is None or emag_id <= 0:
        raise EmagError(f"eMAG sent an order without a valid id: {payload.get('id')!r}", permanent=True)
    fields = order_fields(payload)
    for attempt in range(2):
        try:
            with transaction.atomic():
                order = EmagOrder.objects.select_for_update().filter(account=account, emag_id=emag_id).first()
                if order is not None:
                    if order.raw == payload:
                        return order, "unchanged"
                    if order.modified and fields["modified"] and fields["modified"] < order.modified:
                        return order, "stale"  # an older read lost a race with a newer one
                    for name, value in fields.items():
                        setattr(order, name, value)
                    order.save()
                    outcome = "updated"
                else:
                    order = EmagOrder.objects.create(account=account, emag_id=emag_id, **fields)
                    outcome = "created"
                _store_items(order, payload.get("products"))
                return order, outcome
        except IntegrityError:
            if attempt:  # pragma: no cover - a second race on the same id cannot happen after the first
                raise
    raise AssertionError("unreachable")


def _store_items(order: EmagOrder, products: Any) -> None:
    kept: list[int] = []
    for line in products if isinstance(products, list) else []:
        if not isinstance(line, dict):
            continue
        line_id = int_or_none(line.get("id")) or int_or_none(line.get("product_id"))
        if line_id is None:
            continue
        EmagOrderItem.objects.update_or_create(order=order, line_id=line_id, defaults=item_fields(line))
        kept.append(line_id)
    order.items.exclude(line_id__in=kept).delete()


# --- acknowledge, callbacks ----------------------------------------------------------------------------------
def order_acknowledge(*, order: EmagOrder, client: EmagClient | None = None) -> EmagOrder:
    """new → in progress at eMAG, then here (stops eMAG's repeated callbacks). Safe to repeat."""
    validation.require_valid(
        validation.acknowledge_errors(emag_id=order.emag_id, status=order.status),
        gettext("Acknowledging order %(id)s") % {"id": order.emag_id},
    )
    client = client or account_client(account=order.account)
    client.order_acknowledge(order.emag_id)
    now = timezone.now()
    ORDER_STATUS.advance(pk=order.pk, to=_IN_PROGRESS, from_=_NEW, acknowledged_at=now)
    order.refresh_from_db()
    return order


def order_fetch(
    *, account: EmagAccount, emag_id: int, client: EmagClient | None = None, acknowledge: bool = True
) -> EmagOrder | None:
    """Read one order, store it, acknowledge it when new (the callback's work)."""
    client = client or account_client(account=account)
    payload = client.order_read(emag_id)
    if payload is None:
        return None
    order, _ = order_store(account=account, payload=payload)
    if acknowledge and order.status == EmagOrder.Status.NEW:
        order = order_acknowledge(order=order, client=client)
    return order


def callback_receive(*, account: EmagAccount, emag_order_id: int) -> EmagCallback:
    """Record a callback (eMAG repeats it until acknowledged: one inbox row per order, the repeats
    counted) and enqueue its processing; a processed one is not processed again."""
    from .. import tasks

    callback, created = EmagCallback.objects.get_or_create(
        account=account, emag_order_id=emag_order_id, defaults={"payload": {"order_id": emag_order_id}}
    )
    if not created:
        EmagCallback.objects.filter(pk=callback.pk).update(
            deliveries=F("deliveries") + 1, last_received_at=timezone.now()
        )
    transaction.on_commit(lambda: tasks.callback_process.delay(callback.pk))
    return callback


def _callback_handle(callback: EmagCallback, *, client: EmagClient | None = None) -> Handled:
    """Read the order, store it, acknowledge it when new (core.inbox records the outcome)."""
    if not callback.account.is_active:
        return Handled(InboxStatus.IGNORED, "account inactive")
    order = order_fetch(account=callback.account, emag_id=callback.emag_order_id, client=client)
    return Handled(InboxStatus.PROCESSED, "" if order is not None else "order not found at eMAG")


# Every failure is tried again by the sweep (eMAG's client already retried 429/5xx/network), with
# backoff from one minute to half an hour, for about a day; then the callback is failed for staff.
CALLBACKS = inbox_register(
    Inbox(
        name="marketplaces.emag.callbacks",
        model=EmagCallback,
        handler=_callback_handle,
        max_attempts=60,
        backoff_base_seconds=60,
        backoff_max_seconds=1800,
        received_grace_seconds=120,
        # A callback may wait through eMAG's backoff (~2 min per call, two calls).
        stuck_after_seconds=float(settings.SYNC_STEP_TIME_LIMIT) + 60,
        retryable=lambda exc: True,
    )
)


def callback_process(*, callback_id: int, client: EmagClient | None = None) -> str:
    """Process one stored callback (the task's work); ``"not due"`` when it is done or taken."""
    return str(inbox_process(inbox=CALLBACKS, pk=callback_id, context={"client": client}))


def callbacks_sweep() -> int:
    """Callbacks whose task message was lost, and failed ones whose retry is due: the one inbox sweep."""
    return inbox_sweep(inboxes=[CALLBACKS]).get(CALLBACKS.name, 0)


# --- the sweep ---------------------------------------------------------------------------------------------------
def sync_request(*, account: EmagAccount, enqueue: bool = True) -> SyncRun:
    run = sync_run_create(merchant=account.merchant, kind=KIND_ORDERS, account=account, mode="sweep")
    if enqueue:
        from .. import tasks

        transaction.on_commit(lambda: tasks.orders_sync.delay(run.pk))
    return run


# The executor (core.steps) retries a transient failure that outlived the client's own backoff
# (2 … 64 s on 429/5xx/network, MKT-4) twice more, resuming from the checkpoint; the HTTP client
# keeps retrying itself (single_attempt off).
RETRY = StepRetry(max_retries=2, backoff=60, backoff_max=240, single_attempt=False)


def _page_size() -> int:
    return min(settings.EMAG_PAGE_SIZE, MAX_PAGE_SIZE)


def orders_step(step: Step, *, client: EmagClient | None = None, now: datetime | None = None) -> bool:
    """One page of the sweep from its checkpoint: new orders (stored and acknowledged), then orders
    modified since the cursor window by window, then the close (callbacks, cursor). The window's end
    is frozen at the first step, so a resumed sweep reads the same range."""
    run = step.run
    account = step.account(EmagAccount)
    if "phase" not in run.params:
        now = now or timezone.now()
        cursor = account.orders_modified_cursor
        start = (
            cursor - timedelta(minutes=settings.EMAG_SWEEP_OVERLAP_MINUTES)
            if cursor
            else now - timedelta(days=settings.EMAG_INITIAL_SYNC_DAYS)
        )
        step.checkpoint(
            params={"phase": "new", "page": 1, "window": 0, "start": start.isoformat(), "now": now.isoformat()}
        )
    params = run.params
    phase, page, window = params["phase"], int(params["page"]), int(params["window"])
    now = datetime.fromisoformat(params["now"])
    client = client or account_client(account=account)
    size = _page_size()
    while phase != "close":
        counters: Counter[str] = Counter()
        newest = datetime.fromisoformat(params["newest"]) if params.get("newest") else None
        if phase == "new":
            results = client.orders_read(page=page, per_page=size, status=codes.STATUS_NEW)
            for payload in results:
                order, outcome = order_store(account=account, payload=payload)
                counters[outcome] += 1
                if order.status == EmagOrder.Status.NEW:
                    order_acknowledge(order=order, client=client)
                    counters["acknowledged"] += 1
            page = page + 1 if len(results) >= size else 1
            phase = "new" if len(results) >= size else "modified"
        else:
            spans = list(date_windows(datetime.fromisoformat(params["start"]), now))
            if window < len(spans):
                window_start, window_end = spans[window]
                results = client.orders_read(
                    page=page, per_page=size, modifiedAfter=window_start, modifiedBefore=window_end
                )
                for payload in results:
                    order, outcome = order_store(account=account, payload=payload)
                    counters[outcome] += 1
                    if order.modified and (newest is None or order.modified > newest):
                        newest = order.modified
                page, window = (page + 1, window) if len(results) >= size else (1, window + 1)
            else:
                results = []
            if window >= len(spans):
                phase = "close"
        seen = int(params.get("seen") or 0) + len(results)
        step.checkpoint(
            params={
                "phase": phase,
                "page": page,
                "window": window,
                "seen": seen,
                "newest": newest.isoformat() if newest else params.get("newest"),
            },
            done=seen,
            add={**counters, "pages": 1},
        )
        params = run.params
        if phase != "close" and step.over():
            return False
    newest = datetime.fromisoformat(params["newest"]) if params.get("newest") else None
    # Callbacks of orders the sweep stored and that are past new are covered (core.inbox: → processed).
    EmagCallback.objects.filter(
        account=account,
        status__in=CALLBACKS.state.sources(InboxStatus.PROCESSED, from_=[InboxStatus.RECEIVED, InboxStatus.RETRY]),
        emag_order_id__in=EmagOrder.objects.filter(account=account)
        .exclude(status=EmagOrder.Status.NEW)
        .values("emag_id"),
    ).update(status=InboxStatus.PROCESSED, processed_at=now, updated_at=now, next_attempt_at=None)
    EmagAccount.objects.filter(pk=account.pk).update(last_sync_at=now, last_error="")
    if newest is not None:  # only forward: a slower concurrent sweep must not move it back
        EmagAccount.objects.filter(
            Q(orders_modified_cursor=None) | Q(orders_modified_cursor__lt=newest), pk=account.pk
        ).update(orders_modified_cursor=newest)
    return True


def account_error(run: SyncRun, exc: BaseException) -> None:
    account = sync_run_account(run=run, model=EmagAccount)
    if account is not None:
        EmagAccount.objects.filter(pk=account.pk).update(last_error=f"{type(exc).__name__}: {exc}"[:2000])


def orders_sync(
    *, account: EmagAccount, run: SyncRun | None = None, client: EmagClient | None = None, now: datetime | None = None
) -> SyncRun:
    """New orders (stored and acknowledged) and orders modified since the cursor (changes, cancellations),
    in this process; the worker runs the same steps as a chain of messages (``tasks.orders_sync``)."""
    run = run or sync_request(account=account, enqueue=False)
    return sync_run_execute(
        run=run, step=lambda step: orders_step(step, client=client, now=now), retry=RETRY, on_error=account_error
    )


def orders_sweep_all() -> list[int]:
    """Queue a sweep for every active account that has none unfinished. A run nobody executes any more
    (its lease expired: a killed worker, a lost message) is resumed from its checkpoint; one abandoned
    for over an hour is closed as failed, so none stays open forever and a fresh sweep takes over."""
    from .. import tasks

    hour_ago = timezone.now() - timedelta(hours=1)
    executors = {KIND_ORDERS: tasks.orders_sync, KIND_OFFERS: tasks.offers_sync_execute}
    for run in SyncRun.objects.filter(kind__in=list(executors), status__in=UNFINISHED):
        if not sync_run_is_stale(run=run):
            continue
        if run.created_at < hour_ago:
            sync_run_finish(run=run, error="abandoned: its worker stopped before finishing; a new sweep was queued")
        else:
            executors[run.kind].delay(run.pk)
    queued = []
    for account in EmagAccount.objects.filter(is_active=True).select_related("merchant"):
        busy = sync_runs_of(account).filter(kind=KIND_ORDERS, status__in=UNFINISHED, created_at__gte=hour_ago).exists()
        if busy:
            continue
        run = sync_request(account=account, enqueue=False)
        tasks.orders_sync.delay(run.pk)
        queued.append(run.pk)
    return queued


# --- writes (validated before any request) ---------------------------------------------------------------
def _whole_order(order: EmagOrder, changes: dict[str, Any]) -> dict[str, Any]:
    # eMAG's order/save wants the whole order as read, with the changes.
    return {**order.raw, **changes, "id": order.emag_id}


def order_update(*, order: EmagOrder, changes: dict[str, Any], client: EmagClient | None = None) -> EmagOrder:
    entity = _whole_order(order, changes)
    validation.require_valid(validation.order_errors(entity), gettext("Order %(id)s") % {"id": order.emag_id})
    client = client or account_client(account=order.account)
    client.orders_save([entity])
    return order_fetch(account=order.account, emag_id=order.emag_id, client=client, acknowledge=False) or order


def order_cancel(*, order: EmagOrder, reason: int, client: EmagClient | None = None) -> EmagOrder:
    validation.require_valid(
        validation.cancel_errors(status=order.status, reason=reason),
        gettext("Cancelling order %(id)s") % {"id": order.emag_id},
    )
    return order_update(
        order=order, changes={"status": codes.STATUS_CANCELED, "cancellation_reason": reason}, client=client
    )


def orders_bulk_save(*, account: EmagAccount, orders: list[dict[str, Any]], client: EmagClient | None = None) -> int:
    """Validate every order first (nothing is sent if one is bad), then save in batches of ≤ 50."""
    validation.require_valid(validation.orders_bulk_errors(orders), gettext("The bulk save"))
    client = client or account_client(account=account)
    client.orders_save(orders)
    return len(orders)
