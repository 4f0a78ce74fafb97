"""Import of the store's own offers from the cabinet offer list (SPEC MKT-1).

All pages are read (``total`` decides, not the page size we asked for); each page is upserted on
(store, sku) at once, so a run that fails half-way keeps what it read and loses nothing stored.
Only a run that read every page marks offers it did not see as inactive (removed in the cabinet).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from core.models import SyncRun
from core.services import sync_run, sync_run_progress

from ..clients.cabinet import Offer, OfferPage
from ..models import KaspiProduct, KaspiStore
from .session import session_ensure, with_cabinet
from .stores import store_record_error

log = logging.getLogger(__name__)

KIND = "kaspi.products"
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


def products_sync(*, run: SyncRun) -> SyncRun:
    """Read every page of the offer list into KaspiProduct; the run counts offers."""
    store = KaspiStore.objects.get(pk=int(run.account_ref))
    size = settings.KASPI_OFFERS_PAGE_SIZE
    try:
        with sync_run(merchant=store.merchant, kind=KIND, run=run):
            store = session_ensure(store=store)
            started = timezone.now()
            seen = 0
            total = 0
            for page in range(MAX_PAGES):

                def read(client: Any, page: int = page) -> OfferPage:
                    return client.offers_page(merchant_uid=store.merchant_uid, page=page, size=size)

                result = with_cabinet(store=store, call=read)
                total = result.total
                with transaction.atomic():
                    products_upsert(store=store, offers=result.offers)
                seen += len(result.offers)
                sync_run_progress(run=run, done=len(result.offers), total=total)
                if not result.offers or seen >= total:
                    break
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
            sync_run_progress(run=run, counters={"offers": seen, "total": total, "deactivated": removed})
    except Exception as exc:
        store_record_error(store=store, error=exc)
        raise
    run.refresh_from_db()
    log.info("kaspi store %s: %s offers imported, %s deactivated", store.pk, seen, removed)
    return run
