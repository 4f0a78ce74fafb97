"""Import of the store's own offers from the cabinet offer list (SPEC MKT-1).

All pages are read (``total`` decides, not the page size we asked for); each page is upserted on
(store, sku) at once, so a run that fails half-way keeps what it read and loses nothing stored.
Only a run that read every page marks offers it did not see as inactive (removed in the cabinet).
The run is executed in steps (``core.steps``): its checkpoint is the next page and the instant the
run started reading (offers not seen since then are the removed ones), so a resumed run reads on.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.models import SyncRun
from core.selectors import sync_run_account
from core.steps import Step, StepRetry, sync_run_execute

from ..clients.cabinet import Offer, OfferPage
from ..clients.errors import KaspiRateLimited
from ..models import KaspiProduct, KaspiStore
from .session import session_ensure, with_cabinet
from .stores import store_record_error

log = logging.getLogger(__name__)

KIND = "kaspi.products"
# Kaspi down or slow (timeout, 5xx, login page unreachable): the same run is retried a few times with
# backoff, resuming from its checkpoint. A 429 never is: Kaspi extends the ban on every request, so
# the run fails and the next scheduled run starts later.
RETRY = StepRetry(max_retries=4, backoff=15, backoff_max=300, never=(KaspiRateLimited,))
MAX_PAGES = 10_000
_UPDATED = [
    "kaspi_product_id",
    "name",
    "brand",
    "category",
    "image_url",
    "shop_link",
    "price",
    "availabilities",
    "city_prices",
    "is_available",
    "is_active",
    "raw",
    "last_seen_at",
    "updated_at",
]


def _available(offer: Offer) -> bool:
    for item in offer.availabilities:
        if isinstance(item, dict) and str(item.get("available", "")).lower() in ("yes", "true", "1"):
            return True
    return False


def products_upsert(*, store: KaspiStore, offers: list[Offer]) -> int:
    now = timezone.now()
    rows = {
        o.sku: KaspiProduct(
            store=store,
            sku=o.sku[:200],
            kaspi_product_id=o.card_id[:32],
            name=o.title[:500],
            brand=o.brand[:200],
            category=o.category[:200],
            image_url=o.image_url[:1000],
            shop_link=o.shop_link[:1000],
            price=o.price,
            availabilities=o.availabilities,
            city_prices=o.city_prices,
            is_available=_available(o),
            is_active=True,
            raw=o.raw,
            last_seen_at=now,
            updated_at=now,
        )
        for o in offers
    }
    KaspiProduct.objects.bulk_create(
        list(rows.values()), update_conflicts=True, unique_fields=["store", "sku"], update_fields=_UPDATED
    )
    return len(rows)


def products_step(step: Step) -> bool:
    """Pages of the offer list from the checkpoint until the step's time is up; after the last page,
    offers not seen since the run started are marked inactive and the store's numbers are updated."""
    run = step.run
    store = step.account(KaspiStore)
    if "started" not in run.params:
        step.checkpoint(params={"started": timezone.now().isoformat(), "page": 0, "seen": 0})
    params = run.params
    started = datetime.fromisoformat(params["started"])
    page, seen, total = int(params["page"]), int(params["seen"]), int(params.get("total") or 0)
    if not params.get("read_all"):
        store = session_ensure(store=store)
        size = settings.KASPI_OFFERS_PAGE_SIZE
        while True:

            def read(client: Any, page: int = page) -> OfferPage:
                return client.offers_page(merchant_uid=store.merchant_uid, page=page, size=size)

            result = with_cabinet(store=store, call=read)
            with transaction.atomic():
                products_upsert(store=store, offers=result.offers)
            page, seen, total = page + 1, seen + len(result.offers), result.total
            read_all = not result.offers or seen >= total or page >= MAX_PAGES
            step.checkpoint(
                params={"page": page, "seen": seen, "total": total, "read_all": read_all},
                done=seen,
                total=total,
                add={"offers": len(result.offers), "pages": 1},
            )
            if read_all:
                break
            if step.over():
                return False
    with transaction.atomic():
        removed = (
            KaspiProduct.objects.filter(store=store, is_active=True)
            .exclude(last_seen_at__gte=started)
            .update(is_active=False, updated_at=timezone.now())
        )
        active = KaspiProduct.objects.filter(store=store, is_active=True).count()
        KaspiStore.objects.filter(pk=store.pk).update(
            products_count=active, last_products_sync_at=timezone.now(), last_error=""
        )
    step.checkpoint(counters={"total": total, "deactivated": removed})
    log.info("kaspi store %s: %s offers imported, %s deactivated", store.pk, seen, removed)
    return True


def store_error(run: SyncRun, exc: BaseException) -> None:
    """What the owner sees on the store when a run of it fails or is retried."""
    store = sync_run_account(run=run, model=KaspiStore)
    if store is not None:
        store_record_error(store=store, error=exc)


def products_sync(*, run: SyncRun) -> SyncRun:
    """Read every page of the offer list into KaspiProduct in this process (the worker runs the same
    steps as a chain of messages); the run counts offers."""
    return sync_run_execute(run=run, step=products_step, retry=RETRY, on_error=store_error)
