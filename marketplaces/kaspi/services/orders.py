"""Orders from the Kaspi Shop API (SPEC MKT-1, MKT-7): windows of at most 14 days, every state,
every page; entries read once per order; the merchant's "accept".

A run's window is frozen in its params when it is requested, so a retried run reads the same
range. Orders are upserted on (store, kaspi_id) page by page: a failure keeps every page already
read, and the next run (which starts a few days before the last complete one) fills the rest.
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
from core.ratelimit import Rate, RateLimiter
from core.services import sync_run, sync_run_progress

from ..clients.shop import ShopApiClient, ShopOrder, windows
from ..models import KaspiOrder, KaspiOrderEntry, KaspiStore
from .stores import store_record_error

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


def _acquire(limiter: RateLimiter) -> None:
    limiter.acquire(timeout=60)


def shop_client(store: KaspiStore) -> ShopApiClient:
    if not store.shop_api_token:
        raise IntegrationError("no Shop API token set for this store", service="kaspi-shop-api", permanent=True)
    limiter = RateLimiter(f"kaspi:shop:{store.pk}", Rate.per_second(settings.KASPI_SHOP_API_RATE_PER_SECOND))
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


def orders_sync(*, run: SyncRun) -> SyncRun:
    store = KaspiStore.objects.get(pk=int(run.account_ref))
    date_from = datetime.fromisoformat(run.params["date_from"])
    date_to = datetime.fromisoformat(run.params["date_to"])
    states = run.params.get("states") or settings.KASPI_ORDER_STATES
    counters = {"orders": 0, "entries": 0, "windows": 0, "pages": 0}
    expected = 0
    try:
        with sync_run(merchant=store.merchant, kind=KIND, run=run):
            client = shop_client(store)
            for start, end in windows(date_from, date_to, days=settings.KASPI_ORDERS_WINDOW_DAYS):
                counters["windows"] += 1
                for state in states:
                    first = True
                    for page in client.orders(
                        date_from=start, date_to=end, state=state, size=settings.KASPI_ORDERS_PAGE_SIZE
                    ):
                        counters["pages"] += 1
                        if first:  # "X of Y" where Y grows as each window and state reports its count
                            expected += page.total_count
                            first = False
                        with transaction.atomic():
                            stored = orders_upsert(store=store, orders=page.orders)
                        for order in stored:
                            if order.entries_synced_at is None:
                                counters["entries"] += order_entries_sync(order=order, client=client)
                        counters["orders"] += len(page.orders)
                        sync_run_progress(run=run, done=len(page.orders), total=max(expected, counters["orders"]))
            KaspiStore.objects.filter(pk=store.pk).update(
                orders_synced_until=date_to, last_orders_sync_at=timezone.now(), last_error=""
            )
            sync_run_progress(run=run, counters=counters)
    except Exception as exc:
        store_record_error(store=store, error=exc)
        raise
    run.refresh_from_db()
    return run


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
