"""Tmetr telemetry API: drink prices, the brew command, heartbeats (API_CONTRACTS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import requests
from django.conf import settings

from core.exceptions import IntegrationError
from core.http import http_client

SERVICE = "tmetr"
SIZE_NAMES = {"small": "SMALL", "medium": "MEDIUM", "big": "BIG"}


@dataclass(frozen=True)
class Heartbeat:
    device_id: str
    at: datetime | None


class TokenSource(Protocol):
    def __call__(self, *, stale: str | None = None) -> str:
        """The token to send; ``stale``: Tmetr has just refused that one (renew it)."""
        ...


class TmetrClient:
    """Tmetr over the HTTP seam. The bearer token comes from ``token`` (fixed) or ``token_source``
    (asked before every call, and once more after a 401 — payments.services.tmetr_auth renews it);
    with neither, the ``TMETR_TOKEN`` setting."""

    def __init__(
        self, *, base_url: str | None = None, token: str | None = None, token_source: TokenSource | None = None
    ) -> None:
        url = base_url if base_url is not None else settings.TMETR_API_URL
        if not url:
            raise IntegrationError("TMETR_API_URL is not configured", service=SERVICE, permanent=True)
        self.http = http_client(SERVICE, url)
        self._token = token
        self._token_source = token_source

    def _bearer(self, stale: str | None = None) -> str:
        if self._token is not None:
            return self._token
        if self._token_source is not None:
            return self._token_source(stale=stale)
        return str(settings.TMETR_TOKEN)

    def _call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """One call; a 401 (the token expired or was revoked) renews the token and tries once more —
        safe even for the brew command, since a refused request was not carried out."""
        token = self._bearer()
        try:
            return self.http.request(method, path, headers=_auth(token), **kwargs)
        except IntegrationError as exc:
            if exc.status_code != 401:
                raise
            renewed = self._bearer(stale=token)
            if renewed == token:
                raise
        return self.http.request(method, path, headers=_auth(renewed), **kwargs)

    def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._call(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise IntegrationError("Tmetr sent a body that is not JSON", service=SERVICE) from exc

    def drink_price(self, *, device_id: str, drink_id: str, size: str) -> int:
        data = self._json(
            "POST",
            "/api/ui/v1/static/drink",
            idempotent=True,
            json={"deviceId": device_id, "drinkIdAtDevice": drink_id, "drinkSize": SIZE_NAMES[size]},
        )
        try:
            return int(data["price"])
        except (KeyError, TypeError, ValueError) as exc:
            raise IntegrationError("Tmetr sent no price", service=SERVICE, permanent=True) from exc

    def make(self, *, device_id: str, order_uuid: str, drink_id: str, size: str, price: int) -> None:
        """Any non-2xx or network error is a failed command (raised). Not retried on 5xx: a brew is not
        idempotent unless the machine de-duplicates on orderUuid, so the caller decides."""
        self._call(
            "POST",
            "/api/commander/v1/command/make",
            idempotent=False,
            json=[
                {"deviceId": device_id, "orderUuid": order_uuid, "drinkUuid": drink_id, "size": size, "price": price}
            ],
            max_retries=0,
        )

    def heartbeat(self, device_id: str) -> Heartbeat:
        data = self._json(
            "POST",
            "/api/ui/v1/stat/heartbeat/recent",
            idempotent=True,
            json={"deviceIds": [device_id], "offset": 0, "limit": 1},
        )
        for row in data.get("content") or []:
            if str(row.get("deviceId")) == device_id and row.get("heartbeatCreatedAt"):
                return Heartbeat(
                    device_id, datetime.fromisoformat(str(row["heartbeatCreatedAt"]).replace("Z", "+00:00"))
                )
        return Heartbeat(device_id, None)


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}
