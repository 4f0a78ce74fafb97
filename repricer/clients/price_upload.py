"""The merchant cabinet's price upload (API_CONTRACTS.md "Kaspi.kz", "Price change").

Sent through the Kaspi module's ``CabinetClient`` (its cookies, ``x-auth-version: 3`` and its
per-merchant limiter), so the session renewal of ``with_cabinet`` applies. Never retried here:
a 429 bans the merchant for ~30 minutes and a retry would only extend it; a POST that timed out may
have been applied, and the next check re-decides from what Kaspi then shows.
"""

from __future__ import annotations

from typing import Any

from marketplaces.kaspi.clients.cabinet import CabinetClient, cookie_header
from marketplaces.kaspi.clients.errors import KaspiError, KaspiRateLimited, SessionExpired

UPLOAD_PATH = "/pricefeed/upload/merchant/process"
_HANDLED = (*range(200, 300), 401, 403, 429)


def upload_price(
    cabinet: CabinetClient,
    *,
    merchant_uid: str,
    sku: str,
    model: str,
    price: int,
    city_id: str,
    availabilities: list[dict[str, Any]] | None = None,
) -> str:
    """Set one offer's price in one city; return Kaspi's upload job id."""
    if price < 10:
        raise KaspiError("Kaspi prices are whole tenge, at least 10", service="kaspi-cabinet", permanent=True)
    body = {
        "merchantUid": merchant_uid,
        "sku": sku,
        "model": model,
        "price": int(price),
        "availabilities": availabilities
        or [{"available": "yes", "storeId": f"{merchant_uid}_PP1", "stockEnabled": False}],
        "cityPrices": [{"cityId": city_id, "value": int(price)}],
    }
    headers = {
        "Cookie": cookie_header(cabinet.cookies, cabinet.http.url(UPLOAD_PATH)),
        "Accept": "application/json",
    }
    response = cabinet.http.post(UPLOAD_PATH, json=body, headers=headers, ok_statuses=_HANDLED, max_retries=0)
    if response.status_code in (401, 403):
        raise SessionExpired(
            "the cabinet refused the session", service="kaspi-cabinet", status_code=response.status_code
        )
    if response.status_code == 429:
        raise KaspiRateLimited(
            "price upload answered 429: the merchant is rate-limited", service="kaspi-cabinet", status_code=429
        )
    try:
        payload = response.json()
    except ValueError as exc:
        raise KaspiError("the price upload answered without JSON", service="kaspi-cabinet") from exc
    return str(payload.get("id") or "") if isinstance(payload, dict) else ""
