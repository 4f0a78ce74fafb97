"""T-Bank acquiring v2: Init, GetState, Confirm, Cancel and notification tokens (SPEC PAY-5)."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from core.exceptions import IntegrationError
from core.http import http_client

SERVICE = "tbank"

# T-Bank statuses → our payment statuses (the YooKassa vocabulary).
STATUS_MAP = {
    "NEW": "pending",
    "FORM_SHOWED": "pending",
    "AUTHORIZING": "pending",
    "3DS_CHECKING": "pending",
    "3DS_CHECKED": "pending",
    "CONFIRMING": "waiting_for_capture",
    "AUTHORIZED": "waiting_for_capture",
    "CONFIRMED": "succeeded",
    "REVERSING": "canceled",
    "REVERSED": "canceled",
    "PARTIAL_REVERSED": "canceled",
    "REFUNDING": "succeeded",
    "REFUNDED": "canceled",
    "PARTIAL_REFUNDED": "succeeded",
    "REJECTED": "canceled",
    "CANCELED": "canceled",
    "DEADLINE_EXPIRED": "canceled",
    "AUTH_FAIL": "canceled",
}


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def make_token(fields: dict[str, Any], password: str) -> str:
    """Top-level scalar fields (not Token, Receipt, DATA or nested objects) + Password, sorted by key."""
    pairs = {k: v for k, v in fields.items() if k != "Token" and not isinstance(v, dict | list) and v is not None}
    pairs["Password"] = password
    joined = "".join(_scalar(pairs[k]) for k in sorted(pairs))
    return hashlib.sha256(joined.encode()).hexdigest()


def token_valid(fields: dict[str, Any], password: str) -> bool:
    token = fields.get("Token")
    return isinstance(token, str) and hmac.compare_digest(token, make_token(fields, password))


@dataclass(frozen=True)
class TbPayment:
    payment_id: str
    status: str  # T-Bank's own status
    amount: int
    order_id: str
    payment_url: str = ""

    @property
    def normalized_status(self) -> str:
        return STATUS_MAP.get(self.status, "pending")


class TBankClient:
    def __init__(self, *, terminal_key: str, password: str) -> None:
        if not terminal_key or not password:
            raise IntegrationError("T-Bank credentials are not configured", service=SERVICE, permanent=True)
        self.terminal_key = terminal_key
        self.password = str(password)
        self.http = http_client(SERVICE, settings.TBANK_API_URL)

    def _post(self, method: str, body: dict[str, Any], **options: Any) -> dict[str, Any]:
        body = {"TerminalKey": self.terminal_key, **body}
        body["Token"] = make_token(body, self.password)
        # Every call we make is safe to repeat: Init is keyed by OrderId, Cancel by ExternalRequestId.
        data = self.http.json("POST", f"/{method}", json=body, idempotent=True, **options)
        if not data.get("Success"):
            raise IntegrationError(
                f"T-Bank {method} failed: {data.get('ErrorCode')} {data.get('Message', '')}",
                service=SERVICE,
                permanent=True,
                code=str(data.get("ErrorCode", "")),
            )
        return data

    def init(
        self,
        *,
        order_id: str,
        amount: int,
        description: str,
        success_url: str,
        notification_url: str,
        two_stage: bool,
        receipt: dict[str, Any] | None = None,
    ) -> TbPayment:
        body: dict[str, Any] = {
            "Amount": amount,
            "OrderId": order_id,
            "Description": description[:140],
            "SuccessURL": success_url,
            "NotificationURL": notification_url,
            "PayType": "T" if two_stage else "O",
            "DATA": {"order_id": order_id},
        }
        if receipt:
            body["Receipt"] = receipt
        data = self._post("Init", body)
        return TbPayment(
            payment_id=str(data["PaymentId"]),
            status=data.get("Status", "NEW"),
            amount=amount,
            order_id=order_id,
            payment_url=data.get("PaymentURL", ""),
        )

    def get_state(self, payment_id: str, *, timeout: float | None = None, retries: int | None = None) -> TbPayment:
        """``timeout`` (seconds, connect and read) and ``retries`` override the defaults for this call."""
        options: dict[str, Any] = {}
        if timeout is not None:
            options["timeout"] = (min(timeout, settings.HTTP_CONNECT_TIMEOUT), timeout)
        if retries is not None:
            options["max_retries"] = retries
        data = self._post("GetState", {"PaymentId": payment_id}, **options)
        return TbPayment(
            payment_id=str(data["PaymentId"]),
            status=data["Status"],
            amount=int(data.get("Amount", 0)),
            order_id=str(data.get("OrderId", "")),
        )

    def confirm(self, payment_id: str) -> TbPayment:
        data = self._post("Confirm", {"PaymentId": payment_id})
        return TbPayment(payment_id=str(data["PaymentId"]), status=data["Status"], amount=0, order_id="")

    def cancel(self, payment_id: str, *, external_request_id: str) -> TbPayment:
        data = self._post("Cancel", {"PaymentId": payment_id, "ExternalRequestId": external_request_id})
        return TbPayment(payment_id=str(data["PaymentId"]), status=data["Status"], amount=0, order_id="")
