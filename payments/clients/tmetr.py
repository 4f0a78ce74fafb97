"""Tmetr telemetry API: drink prices, the brew command, heartbeats (API_CONTRACTS.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings

from core.exceptions import IntegrationError
from core.http import HttpClient

SERVICE = "tmetr"
SIZE_NAMES = {"small": "SMALL", "medium": "MEDIUM", "big": "BIG"}


@dataclass(frozen=True)
class Heartbeat:
    device_id: str
    at: datetime | None


class TmetrClient:
    def __init__(self, *, base_url: str | None = None, token: str | None = None) -> None:
        url = base_url if base_url is not None else settings.TMETR_API_URL
        if not url:
            raise IntegrationError("TMETR_API_URL is not configured", service=SERVICE, permanent=True)
        self.http = HttpClient(service=SERVICE, base_url=url)
        self._token = token

    def _headers(self) -> dict[str, str]:
        # Read the token on every call: it lasts ~10 hours and is replaced without a restart.
        token = self._token if self._token is not None else settings.TMETR_TOKEN
        return {"Authorization": f"Bearer {token}"} if token else {}

    def drink_price(self, *, device_id: str, drink_id: str, size: str) -> int:
        data = self.http.json(
            "POST",
            "/api/ui/v1/static/drink",
            headers=self._headers(),
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
        self.http.request(
            "POST",
            "/api/commander/v1/command/make",
            headers=self._headers(),
            idempotent=False,
            json=[
                {"deviceId": device_id, "orderUuid": order_uuid, "drinkUuid": drink_id, "size": size, "price": price}
            ],
            max_retries=0,
        )

    def heartbeat(self, device_id: str) -> Heartbeat:
        data = self.http.json(
            "POST",
            "/api/ui/v1/stat/heartbeat/recent",
            headers=self._headers(),
            idempotent=True,
            json={"deviceIds": [device_id], "offset": 0, "limit": 1},
        )
        for row in data.get("content") or []:
            if str(row.get("deviceId")) == device_id and row.get("heartbeatCreatedAt"):
                return Heartbeat(
                    device_id, datetime.fromisoformat(str(row["heartbeatCreatedAt"]).replace("Z", "+00:00"))
                )
        return Heartbeat(device_id, None)
