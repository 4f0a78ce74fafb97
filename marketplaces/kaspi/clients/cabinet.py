"""The merchant cabinet over HTTP with the browser's session cookies (API_CONTRACTS.md "Kaspi.kz").

Every call sends ``x-auth-version: 3`` and the cookies; 401/403 is ``SessionExpired`` (the caller
logs in again), 429 is ``KaspiRateLimited`` and is never retried here (a retry would extend the ban).
One pooled ``HttpClient`` for every merchant (``core.http.http_client``); the merchant's cookies and
its ``pacer`` (declared here: ``KASPI_CABINET_RATE_PER_SECOND``, evenly spaced across every process)
ride on each request. The price upload (``CabinetClient.upload_price``) is a cabinet call too.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings

from core.http import RetryPolicy, http_client
from core.ratelimit import Pacer

from .errors import KaspiError, KaspiRateLimited, SessionExpired

SERVICE = "kaspi-cabinet"
UPLOAD_PATH = "/pricefeed/upload/merchant/process"
_CARD_ID = re.compile(r"(?:^|[/-])(\d+)/*$")
_HANDLED = (*range(200, 300), 401, 403, 429)
_RETRY = RetryPolicy(max_retries=2)
_HEADERS = {"x-auth-version": "3"}


def pacer(*, merchant_key: str) -> Pacer:
    """A merchant's pace at the cabinet, shared by every process: Kaspi answers a burst with a 403 per
    IP or a 429 that bans the merchant for ~30 minutes, so requests are spaced, never windowed."""
    return Pacer(f"kaspi:cabinet:{merchant_key}", settings.KASPI_CABINET_RATE_PER_SECOND)


def upload_pacer(*, merchant_key: str) -> Pacer:
    """A merchant's price uploads (≤ 1.5/s, REP-4). An upload is paced by this alone, in place of the
    cabinet's pace (``CabinetClient.upload_price``): a 429 there bans the merchant for ~30 minutes."""
    return Pacer(f"kaspi:upload:{merchant_key}", settings.REPRICER_UPLOAD_RATE_PER_SECOND)


def _check_session(response: Any) -> None:
    """401/403 from any cabinet call: the cookies are dead (the caller logs in again)."""
    if response.status_code in (401, 403):
        raise SessionExpired("the cabinet refused the session", service=SERVICE, status_code=response.status_code)


@dataclass(frozen=True)
class Cookie:
    name: str
    value: str
    domain: str = ""
    path: str = "/"

    def matches(self, host: str) -> bool:
        domain = self.domain.lstrip(".").lower()
        return not domain or host == domain or host.endswith("." + domain)


def cookie_header(cookies: Iterable[Cookie], url: str) -> str:
    host = (urlsplit(url).hostname or "").lower()
    return "; ".join(f"{c.name}={c.value}" for c in cookies if c.matches(host))


def card_id_from_shop_link(link: str) -> str:
    """``https://kaspi.kz/shop/p/name-113137790/?c=750000000`` → ``113137790`` ("" when absent)."""
    if not link:
        return ""
    match = _CARD_ID.search(urlsplit(link).path)
    return match.group(1) if match else ""


@dataclass(frozen=True)
class Offer:
    sku: str
    title: str
    brand: str
    price: int | None
    shop_link: str
    card_id: str
    availabilities: list[Any]
    city_prices: list[Any]
    category: str
    image_url: str
    raw: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class OfferPage:
    offers: list[Offer]
    total: int


def _seconds(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value else None
    except ValueError:
        return None


def _price(value: Any) -> int | None:
    try:
        return round(float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None


def parse_offer(item: dict[str, Any]) -> Offer:
    sku = str(item.get("sku") or "").strip()
    if not sku:
        raise KaspiError("an offer without sku in the cabinet offer list", service=SERVICE, permanent=False)
    link = str(item.get("shopLink") or "")
    images = item.get("images") or []
    image = item.get("imageUrl") or item.get("image") or (images[0] if images and isinstance(images[0], str) else "")
    category = item.get("category") or item.get("categoryTitle") or ""
    return Offer(
        sku=sku,
        title=str(item.get("masterTitle") or item.get("title") or ""),
        brand=str(item.get("brand") or ""),
        price=_price(item.get("minPrice", item.get("price"))),
        shop_link=link,
        card_id=card_id_from_shop_link(link),
        availabilities=list(item.get("availabilities") or []),
        city_prices=list(item.get("cityPrices") or []),
        category=str(category if isinstance(category, str) else category.get("title", "")),
        image_url=str(image),
        raw=item,
    )


class CabinetClient:
    def __init__(
        self,
        *,
        base_url: str,
        cookies: Iterable[Cookie],
        before_request: Callable[[], None] | None = None,
        timeout: tuple[float, float] | None = None,
    ) -> None:
        self.cookies = list(cookies)
        self.http = http_client(SERVICE, base_url, retry=_RETRY, default_headers=_HEADERS)
        self.before_request = before_request
        self.timeout = timeout

    def _headers(self, path: str) -> dict[str, str]:
        return {"Cookie": cookie_header(self.cookies, self.http.url(path)), "Accept": "application/json"}

    def _get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.http.get(
            path,
            params=params,
            headers=self._headers(path),
            ok_statuses=_HANDLED,
            before_request=self.before_request,
            timeout=self.timeout,
        )
        _check_session(response)
        if response.status_code == 429:
            raise KaspiRateLimited(
                "the cabinet answered 429 (merchant rate-limited)",
                service=SERVICE,
                status_code=429,
                retry_after=_seconds(response.headers.get("Retry-After")),
            )
        try:
            return response.json()
        except ValueError as exc:
            raise KaspiError(
                "the cabinet sent a body that is not JSON (page changed?)",
                service=SERVICE,
                permanent=False,
                status_code=response.status_code,
            ) from exc

    def session_probe(self) -> list[str]:
        """``GET /s/m``: the merchant uids this session may act for; SessionExpired when it is dead."""
        body = self._get("/s/m")
        merchants = body.get("merchants") if isinstance(body, dict) else None
        if not isinstance(merchants, list):
            raise KaspiError("/s/m answered without merchants (page changed?)", service=SERVICE, permanent=False)
        return [str(m.get("uid")) for m in merchants if isinstance(m, dict) and m.get("uid") is not None]

    def offers_page(self, *, merchant_uid: str, page: int, size: int) -> OfferPage:
        body = self._get("/bff/offer-view/list", {"m": merchant_uid, "p": page, "l": size, "a": "true"})
        if not isinstance(body, dict) or not isinstance(body.get("data"), list):
            raise KaspiError("the offer list answered without data (page changed?)", service=SERVICE, permanent=False)
        try:
            total = int(body.get("total", 0))
        except (TypeError, ValueError) as exc:
            raise KaspiError("the offer list total is not a number", service=SERVICE) from exc
        return OfferPage(offers=[parse_offer(item) for item in body["data"] if isinstance(item, dict)], total=total)

    def upload_price(
        self,
        *,
        merchant_uid: str,
        sku: str,
        model: str,
        price: int,
        city_id: str,
        availabilities: list[dict[str, Any]] | None = None,
        before_request: Callable[[], None] | None = None,
    ) -> str:
        """Set one offer's price in one city (API_CONTRACTS.md "Price change"); return Kaspi's upload
        job id. Never retried here: a 429 bans the merchant for ~30 minutes and a retry would only
        extend it; a POST that timed out may have been applied, and the caller re-decides from what
        Kaspi then shows. ``before_request``: the upload's own pace (``upload_pacer``, Kaspi's per-merchant
        upload limit) in place of the cabinet's — the send deadline is the last grant's, so pacing an
        upload by both would let the cabinet's slots, not the upload's, decide when it leaves."""
        if price < 10:
            raise KaspiError("Kaspi prices are whole tenge, at least 10", service=SERVICE, permanent=True)
        body = {
            "merchantUid": merchant_uid,
            "sku": sku,
            "model": model,
            "price": int(price),
            "availabilities": availabilities
            or [{"available": "yes", "storeId": f"{merchant_uid}_PP1", "stockEnabled": False}],
            "cityPrices": [{"cityId": city_id, "value": int(price)}],
        }
        response = self.http.post(
            UPLOAD_PATH,
            json=body,
            headers=self._headers(UPLOAD_PATH),
            ok_statuses=_HANDLED,
            max_retries=0,
            before_request=before_request or self.before_request,
            timeout=self.timeout,
        )
        _check_session(response)
        if response.status_code == 429:
            raise KaspiRateLimited(
                "price upload answered 429: the merchant is rate-limited", service=SERVICE, status_code=429
            )
        try:
            payload = response.json()
        except ValueError as exc:
            raise KaspiError("the price upload answered without JSON", service=SERVICE) from exc
        return str(payload.get("id") or "") if isinstance(payload, dict) else ""
