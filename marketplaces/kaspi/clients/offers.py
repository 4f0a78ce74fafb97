"""Kaspi's public competitor offers (no login): ``POST {KASPI_OFFERS_URL}/{productId}``.

Used by the repricer. Kaspi wants browser-like ``Origin``/``Referer`` headers; about 10 requests
per second per IP are tolerated (above ~15 it answers 403 for ~10 s), so callers pace each outgoing
IP with its ``pacer``.
One pooled ``HttpClient`` per process (``core.http.http_client``); the caller's pacer and outgoing
proxy ride on each request (a proxied request is pooled per proxy by ``requests``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from core.http import http_client
from core.ratelimit import Pacer

SERVICE = "kaspi-offers"
_HEADERS = {"Origin": "https://kaspi.kz", "Referer": "https://kaspi.kz/shop/", "Accept": "application/json"}
CITY_ALMATY = "750000000"
PAGE_LIMIT = 64


def pacer(*, ip_key: str) -> Pacer:
    """One outgoing IP's pace at the offers, shared by every process (REPRICER_OFFERS_RATE_PER_IP)."""
    return Pacer(f"kaspi:offers:ip:{ip_key}", settings.REPRICER_OFFERS_RATE_PER_IP)


@dataclass(frozen=True)
class CompetitorOffer:
    merchant_id: str
    merchant_name: str
    merchant_sku: str
    price: int
    merchant_rating: float | None
    delivery_duration: str
    raw: dict[str, Any] = field(repr=False)


class OffersClient:
    def __init__(self, *, base_url: str, before_request: Callable[[], None] | None = None, proxy: str = "") -> None:
        # Logged at DEBUG: tens of reads per second; failures still log.
        self.http = http_client(SERVICE, base_url, success_log_level=logging.DEBUG, default_headers=_HEADERS)
        self.before_request = before_request
        self.proxies = {"http": proxy, "https": proxy} if proxy else None

    def offers(self, *, product_id: str, city_id: str = CITY_ALMATY, max_pages: int = 10) -> list[CompetitorOffer]:
        """Every offer of a product card in a city, cheapest first (pages of 64)."""
        found: list[CompetitorOffer] = []
        for page in range(max_pages):
            body = self.http.json(
                "POST",
                f"/{product_id}",
                idempotent=True,
                before_request=self.before_request,
                proxies=self.proxies,
                json={
                    "cityId": city_id,
                    "id": str(product_id),
                    "limit": PAGE_LIMIT,
                    "page": page,
                    "sortOption": "PRICE",
                },
            )
            items = body.get("offers") or [] if isinstance(body, dict) else []
            for item in items:
                try:
                    price = round(float(item.get("price")))
                except (TypeError, ValueError):
                    continue
                rating = item.get("merchantRating")
                found.append(
                    CompetitorOffer(
                        merchant_id=str(item.get("merchantId") or ""),
                        merchant_name=str(item.get("merchantName") or ""),
                        merchant_sku=str(item.get("merchantSku") or ""),
                        price=price,
                        merchant_rating=float(rating) if isinstance(rating, (int, float)) else None,
                        delivery_duration=str(item.get("deliveryDuration") or ""),
                        raw=item,
                    )
                )
            total = int(body.get("total") or 0) if isinstance(body, dict) else 0
            if not items or len(found) >= total:
                break
        return found
