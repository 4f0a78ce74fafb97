"""Orders from the Kaspi Shop API (SPEC MKT-1, MKT-7): windows of at most 14 days, every state,
every page; entries read once per order; the merchant's "accept".

A run's window is frozen in its params when it is requested, so a retried run reads the same
range. Orders are upserted on (store, kaspi_id) page by page: a failure keeps every page already
read, and the next run (which starts a few days before the last complete one) fills the rest.
The run is executed in steps (``core.steps``): its checkpoint is (window, state, page), so a resumed
or retried run reads on from the page after the last one it stored.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.exceptions import IntegrationError
from core.logging import untrusted
from core.models import SyncRun
from core.ratelimit import Pacer
from core.steps import Step, sync_run_execute

from ..clients import shop
from ..clients.shop import ShopApiClient, ShopOrder, windows
from ..models import KaspiOrder, KaspiOrderEntry, KaspiStore

log = logging.getLogger(__name__)

KIND = "kaspi.orders"
ACCEPTED = "ACCEPTED_BY_MERCHANT"
_UPDATED = [
    "code",
    "state",
    "status",
    "total_price",
    "payment_mode",
    "delivery_mode",
    "is_kaspi_delivery",
    "customer_name",
    "customer_phone",
    "creation_date",
    "planned_delivery_date",
    "raw",
    "updated_at",
]


class OrderNotAcceptable(IntegrationError):
    pass


def _acquire(limiter: Pacer) -> None:
    limiter.acquire(timeout=60)


def shop_client(store: KaspiStore) -> ShopApiClient:
    if not store.shop_api_token:
        raise IntegrationError("no Shop API token set for this store", service="kaspi-shop-api", permanent=True)
    limiter = shop.pacer(store_id=store.pk)
    return ShopApiClient(
        base_url=settings.KASPI_SHOP_API_URL,
        token=str(store.shop_api_token),
        before_request=lambda: _acquire(limiter),
    )


def orders_window(*, store: KaspiStore, now: datetime | None = None) -> tuple[datetime, datetime]:
    now = now or timezone.now()
    if store.orders_synced_until:
        start = store.orders_synced_until - timedelta(days=settings.KASPI_ORDERS_OVERLAP_DAYS)
    else:
        start = now - timedelta(days=settings.KASPI_ORDERS_INITIAL_DAYS)
    return start, now


def orders_upsert(*, store: KaspiStore, orders: list[ShopOrder]) -> list[KaspiOrder]:
    now = timezone.now()
    rows = {
        o.kaspi_id: KaspiOrder(
            store=store,
            kaspi_id=o.kaspi_id,
            code=o.code[:64],
            state=o.state[:32],
            status=o.status[:64],
            total_price=o.total_price,
            payment_mode=o.payment_mode[:32],
            delivery_mode=o.delivery_mode[:32],
            is_kaspi_delivery=o.is_kaspi_delivery,
            customer_name=o.customer_name,
            customer_phone=o.customer_phone,
            creation_date=o.creation_date,
            planned_delivery_date=o.planned_delivery_date,
            raw=o.raw,
            updated_at=now,
        )
        for o in orders
    }
    KaspiOrder.objects.bulk_create(
        list(rows.values()), update_conflicts=True, unique_fields=["store", "kaspi_id"], update_fields=_UPDATED
    )
    return list(KaspiOrder.objects.filter(store=store, kaspi_id__in=list(rows)))


def order_entries_sync(*, order: KaspiOrder, client: ShopApiClient) -> int:
    entries = client.order_entries(order_id=order.kaspi_id)
    with transaction.atomic():
        KaspiOrderEntry.objects.bulk_create(
            [
                KaspiOrderEntry(
                    order=order,
                    kaspi_id=e.kaspi_id[:64],
                    entry_number=e.entry_number,
                    sku=e.sku[:200],
                    name=e.name,
                    kaspi_product_id=e.kaspi_product_id[:32],
                    quantity=e.quantity,
                    base_price=e.base_price,
                    total_price=e.total_price,
                    delivery_cost=e.delivery_cost,
                    raw=e.raw,
                )
                for e in entries
            ],
            update_conflicts=True,
            unique_fields=["order", "kaspi_id"],
            update_fields=[
                "entry_number",
                "sku",
                "name",
                "kaspi_product_id",
                "quantity",
                "base_price",
                "total_price",
                "delivery_cost",
                "raw",
            ],
        )
        KaspiOrder.objects.filter(pk=order.pk).update(entries_synced_at=timezone.now())
    return len(entries)


def orders_step(step: Step) -> bool:
    """Pages of (window, state) from the checkpoint until the step's time is up or all are read."""
    run = step.run
    store = step.account(KaspiStore)
    params = run.params
    date_from = datetime.fromisoformat(params["date_from"])
    date_to = datetime.fromisoformat(params["date_to"])
    states = list(params.get("states") or settings.KASPI_ORDER_STATES)
    spans = list(windows(date_from, date_to, days=settings.KASPI_ORDERS_WINDOW_DAYS))
    window, state, page = int(params.get("window", 0)), int(params.get("state", 0)), int(params.get("page", 0))
    expected, seen = int(params.get("expected", 0)), int(params.get("seen", 0))
    client = shop_client(store)
    while window < len(spans):
        start, end = spans[window]
        result = client.orders_page(
            date_from=start, date_to=end, state=states[state], page=page, size=settings.KASPI_ORDERS_PAGE_SIZE
        )
        if page == 0:  # "X of Y" where Y grows as each window and state reports its count
            expected += result.total_count
        with transaction.atomic():
            stored = orders_upsert(store=store, orders=result.orders)
        entries = 0
        for order in stored:
            if order.entries_synced_at is None:
                entries += order_entries_sync(order=order, client=client)
        seen += len(result.orders)
        add = {"orders": len(result.orders), "entries": entries, "pages": 1}
        page += 1
        if not result.orders or page >= result.page_count:  # the next state, or the next window
            page, state = 0, state + 1
            if state >= len(states):
                state, window = 0, window + 1
                add["windows"] = 1
        step.checkpoint(
            params={"window": window, "state": state, "page": page, "expected": expected, "seen": seen},
            done=seen,
            total=max(expected, seen),
            add=add,
        )
        if window < len(spans) and step.over():
            return False
    KaspiStore.objects.filter(pk=store.pk).update(
        orders_synced_until=date_to, last_orders_sync_at=timezone.now(), last_error=""
    )
    return True


def orders_sync(*, run: SyncRun) -> SyncRun:
    """Every window, state and page of the run in this process (the worker runs the same steps as a
    chain of messages)."""
    from .products import RETRY, store_error

    return sync_run_execute(run=run, step=orders_step, retry=RETRY, on_error=store_error)


def order_accept(*, order: KaspiOrder) -> KaspiOrder:
    """Accept a new order at Kaspi (ACCEPTED_BY_MERCHANT). Accepting an accepted order changes nothing."""
    if order.status == ACCEPTED:
        return order
    if order.state not in ("NEW", "SIGN_REQUIRED", ""):
        raise OrderNotAcceptable(
            f"order {order.code} is {order.state}; only new orders can be accepted",
            service="kaspi-shop-api",
            permanent=True,
        )
    client = shop_client(order.store)
    answer = client.order_accept(order_id=order.kaspi_id, code=order.code)
    fields: dict[str, object] = {"status": ACCEPTED, "accepted_at": timezone.now(), "updated_at": timezone.now()}
    if answer is not None:
        fields["state"] = answer.state or order.state
        fields["raw"] = answer.raw
    KaspiOrder.objects.filter(pk=order.pk).update(**fields)
    order.refresh_from_db()
    log.info("kaspi order %s accepted", untrusted(order.code))
    return order
