"""Kaspi Shop API v2 (orders): JSON:API, ``X-Auth-Token`` (API_CONTRACTS.md "Kaspi.kz").

``orders_page`` reads one page of one state in one creation-date window (at most 14 days: Kaspi
refuses longer ones); ``windows`` splits a longer range. ``order_accept`` is the merchant's
"accept" (status ``ACCEPTED_BY_MERCHANT``), checked against the order's code. One pooled
``HttpClient`` for every store (``core.http.http_client``); the store's token and its ``pacer``
(declared here: ``KASPI_SHOP_API_RATE_PER_SECOND``, evenly spaced across every process) ride on each
request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings

from core.http import http_client
from core.ratelimit import Pacer

from .errors import KaspiError

SERVICE = "kaspi-shop-api"
JSON_API = "application/vnd.api+json"
MAX_WINDOW = timedelta(days=14)
_HEADERS = {"Content-Type": JSON_API, "Accept": JSON_API}


def pacer(*, store_id: int) -> Pacer:
    """A store's pace at the Shop API, shared by every process."""
    return Pacer(f"kaspi:shop:{store_id}", settings.KASPI_SHOP_API_RATE_PER_SECOND)


@dataclass(frozen=True)
class ShopOrder:
    kaspi_id: str
    code: str
    state: str
    status: str
    total_price: Decimal
    payment_mode: str
    delivery_mode: str
    is_kaspi_delivery: bool
    customer_name: str
    customer_phone: str
    creation_date: datetime
    planned_delivery_date: datetime | None
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class ShopOrderEntry:
    kaspi_id: str
    entry_number: int
    sku: str
    name: str
    kaspi_product_id: str
    quantity: int
    base_price: Decimal
    total_price: Decimal
    delivery_cost: Decimal
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class OrdersPage:
    orders: list[ShopOrder]
    page_count: int
    total_count: int


def to_ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def from_ms(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    try:
        return datetime.fromtimestamp(int(value) / 1000, tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


def _money(value: Any) -> Decimal:
    try:
        return Decimal(str(value)) if value is not None else Decimal(0)
    except InvalidOperation:
        return Decimal(0)


def windows(date_from: datetime, date_to: datetime, *, days: int = 14) -> Iterator[tuple[datetime, datetime]]:
    """[from, to] as consecutive windows of at most ``days`` (never more than Kaspi's 14)."""
    span = min(timedelta(days=days), MAX_WINDOW)
    start = date_from
    while start <= date_to:
        # Bounds are inclusive millisecond instants: the next window starts 1 ms after this one ends.
        end = min(start + span - timedelta(milliseconds=1), date_to)
        yield start, end
        start = end + timedelta(milliseconds=1)


def parse_order(item: dict[str, Any]) -> ShopOrder:
    attrs = item.get("attributes") or {}
    created = from_ms(attrs.get("creationDate"))
    if not item.get("id") or created is None:
        raise KaspiError("an order without id or creationDate", service=SERVICE)
    customer = attrs.get("customer") or {}
    name = customer.get("name") or " ".join(filter(None, [customer.get("firstName"), customer.get("lastName")]))
    return ShopOrder(
        kaspi_id=str(item["id"]),
        code=str(attrs.get("code") or ""),
        state=str(attrs.get("state") or ""),
        status=str(attrs.get("status") or ""),
        total_price=_money(attrs.get("totalPrice")),
        payment_mode=str(attrs.get("paymentMode") or ""),
        delivery_mode=str(attrs.get("deliveryMode") or ""),
        is_kaspi_delivery=bool(attrs.get("isKaspiDelivery")),
        customer_name=str(name or "")[:200],
        customer_phone=str(customer.get("cellPhone") or "")[:32],
        creation_date=created,
        planned_delivery_date=from_ms(attrs.get("plannedDeliveryDate")),
        raw=item,
    )


def parse_entry(item: dict[str, Any], number: int) -> ShopOrderEntry:
    attrs = item.get("attributes") or {}
    offer = attrs.get("offer") or {}
    product = ((item.get("relationships") or {}).get("product") or {}).get("data") or {}
    return ShopOrderEntry(
        kaspi_id=str(item.get("id") or number),
        entry_number=int(attrs.get("entryNumber") or number),
        sku=str(offer.get("code") or ""),
        name=str(offer.get("name") or "")[:500],
        kaspi_product_id=str(product.get("id") or ""),
        quantity=int(attrs.get("quantity") or 1),
        base_price=_money(attrs.get("basePrice")),
        total_price=_money(attrs.get("totalPrice")),
        delivery_cost=_money(attrs.get("deliveryCost")),
        raw=item,
    )


class ShopApiClient:
    def __init__(self, *, base_url: str, token: str, before_request: Callable[[], None] | None = None) -> None:
        self.http = http_client(SERVICE, base_url, default_headers=_HEADERS)
        self._auth = {"X-Auth-Token": token}
        self.before_request = before_request

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.http.json(method, path, headers=self._auth, before_request=self.before_request, **kwargs)

    def orders_page(
        self, *, date_from: datetime, date_to: datetime, state: str | None, page: int, size: int = 100
    ) -> OrdersPage:
        if date_to - date_from > MAX_WINDOW:
            raise ValueError("a Shop API window is at most 14 days; split it with windows()")
        params: dict[str, Any] = {
            "page[number]": page,
            "page[size]": size,
            "filter[orders][creationDate][$ge]": to_ms(date_from),
            "filter[orders][creationDate][$le]": to_ms(date_to),
        }
        if state:
            params["filter[orders][state]"] = state
        body = self._json("GET", "/orders", params=params)
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise KaspiError("the orders answer has no data list", service=SERVICE)
        meta = body.get("meta") or {}
        orders = [parse_order(item) for item in body["data"] if isinstance(item, dict)]
        return OrdersPage(
            orders=orders,
            page_count=int(meta.get("pageCount") or 0),
            total_count=int(meta.get("totalCount") or len(orders)),
        )

    def orders(
        self, *, date_from: datetime, date_to: datetime, state: str | None, size: int = 100
    ) -> Iterator[OrdersPage]:
        """Every page of one window and state."""
        page = 0
        while True:
            result = self.orders_page(date_from=date_from, date_to=date_to, state=state, page=page, size=size)
            yield result
            page += 1
            if not result.orders or page >= result.page_count:
                return

    def order_entries(self, *, order_id: str) -> list[ShopOrderEntry]:
        body = self._json("GET", f"/orders/{order_id}/entries")
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise KaspiError("the entries answer has no data list", service=SERVICE)
        return [parse_entry(item, n) for n, item in enumerate(body["data"]) if isinstance(item, dict)]

    def order_accept(self, *, order_id: str, code: str) -> ShopOrder | None:
        """Accept an order; the same call twice is harmless (Kaspi keeps the status), so it may be retried."""
        payload = {
            "data": {"type": "orders", "id": order_id, "attributes": {"code": code, "status": "ACCEPTED_BY_MERCHANT"}}
        }
        body = self._json("POST", "/orders", json=payload, idempotent=True)
        data = body.get("data") if isinstance(body, dict) else None
        return parse_order(data) if isinstance(data, dict) and data.get("attributes", {}).get("creationDate") else None
