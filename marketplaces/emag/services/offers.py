"""eMAG offers with their competition data (SPEC MKT-2): read, and price/stock writes after validation."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils.translation import gettext

from core.models import SyncRun
from core.services import sync_run_create
from core.steps import Step, sync_run_execute

from ..clients.emag import MAX_PAGE_SIZE, EmagClient
from ..models import EmagAccount, EmagOffer
from . import validation
from .accounts import account_client
from .monitoring import KIND_OFFERS
from .values import decimal_or_none, int_or_none, text_cut


def _stock(value: Any) -> int | None:
    if isinstance(value, list):  # [{"warehouse_id": 1, "value": 5}, ...]
        numbers = [int_or_none(v.get("value")) for v in value if isinstance(v, dict)]
        return sum(n for n in numbers if n is not None) if numbers else None
    return int_or_none(value)


def offer_fields(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "part_number_key": text_cut(payload.get("part_number_key"), 40),
        "part_number": text_cut(payload.get("part_number"), 120),
        "name": text_cut(payload.get("name"), 500),
        "status": int_or_none(payload.get("status")),
        "sale_price": decimal_or_none(payload.get("sale_price")),
        "recommended_price": decimal_or_none(payload.get("recommended_price")),
        "min_sale_price": decimal_or_none(payload.get("min_sale_price")),
        "max_sale_price": decimal_or_none(payload.get("max_sale_price")),
        "currency": text_cut(payload.get("currency"), 8),
        "vat_id": int_or_none(payload.get("vat_id")),
        "stock": _stock(payload.get("stock")),
        "handling_time": _stock(payload.get("handling_time")),
        "buy_button_rank": int_or_none(payload.get("buy_button_rank")),
        "best_offer_sale_price": decimal_or_none(payload.get("best_offer_sale_price")),
        "number_of_offers": int_or_none(payload.get("number_of_offers")),
        "raw": payload,
    }


def offers_step(step: Step, *, client: EmagClient | None = None) -> bool:
    """Pages of the offer list from the checkpoint until the step's time is up or the last page."""
    run = step.run
    account = step.account(EmagAccount)
    client = client or account_client(account=account)
    size = min(settings.EMAG_PAGE_SIZE, MAX_PAGE_SIZE)
    page, seen = int(run.params.get("page") or 1), int(run.params.get("seen") or 0)
    while True:
        results = client.offers_read(page=page, per_page=size)
        counters: Counter[str] = Counter()
        for payload in results:
            emag_id = int_or_none(payload.get("id"))
            if emag_id is None:
                counters["skipped"] += 1
                continue
            _, created = EmagOffer.objects.update_or_create(
                account=account, emag_id=emag_id, defaults=offer_fields(payload)
            )
            counters["created" if created else "updated"] += 1
        page, seen = page + 1, seen + len(results)
        step.checkpoint(params={"page": page, "seen": seen}, done=seen, add=dict(counters))
        if len(results) < size:
            return True
        if step.over():
            return False


def offers_error(run: SyncRun, exc: BaseException) -> None:
    from .orders import account_error

    account_error(run, exc)


def offers_request(*, account: EmagAccount) -> SyncRun:
    return sync_run_create(merchant=account.merchant, kind=KIND_OFFERS, account=account)


def offers_sync(*, account: EmagAccount, run: SyncRun | None = None, client: EmagClient | None = None) -> SyncRun:
    """Every offer of the account in this process; the worker runs the same steps as a chain of messages."""
    from .orders import RETRY

    run = run or offers_request(account=account)
    return sync_run_execute(
        run=run, step=lambda step: offers_step(step, client=client), retry=RETRY, on_error=offers_error
    )


def offer_update(
    *, offer: EmagOffer, sale_price: Decimal | None = None, stock: int | None = None, client: EmagClient | None = None
) -> EmagOffer:
    """Change an offer's price (ex-VAT, within min..max) and/or stock; validated before any request."""
    entity: dict[str, Any] = {"id": offer.emag_id}
    if sale_price is not None:
        entity["sale_price"] = str(sale_price)
    if stock is not None:
        entity["stock"] = [{"warehouse_id": 1, "value": stock}]
    errors = validation.offer_errors(entity, min_price=offer.min_sale_price, max_price=offer.max_sale_price)
    if len(entity) == 1:
        errors.setdefault("sale_price", []).append("Give a new sale_price or stock.")
    validation.require_valid(errors, gettext("Offer %(id)s") % {"id": offer.emag_id})
    client = client or account_client(account=offer.account)
    client.offers_save([entity])
    changes: dict[str, Any] = {}
    if sale_price is not None:
        changes["sale_price"] = sale_price
    if stock is not None:
        changes["stock"] = stock
    EmagOffer.objects.filter(pk=offer.pk).update(**changes)
    offer.refresh_from_db()
    return offer
