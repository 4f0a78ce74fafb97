"""YooKassa REST v3 through the official ``yookassa`` SDK, with its pitfalls contained (SPEC PAY-4).

- The SDK's configuration is process-global: credentials and ``api_url`` are set under a lock and
  captured into a fresh ``ApiClient`` right away, so concurrent calls for different merchants
  never mix credentials, and ``api_url`` always comes from settings (never reset to production).
- The SDK sets no HTTP timeout: every session it opens gets one (``YOOKASSA_TIMEOUT_SECONDS``).
- A network failure inside the SDK surfaces as ``AttributeError`` on ``None``: mapped to
  ``TransientError``; HTTP 4xx to permanent ``IntegrationError``.
- Idempotence keys are always derived from our ids by the caller (``yk-create-<order id>``).
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from netaddr import AddrFormatError
from requests.adapters import HTTPAdapter
from yookassa import Configuration
from yookassa.client import ApiClient
from yookassa.domain import exceptions as yk_errors
from yookassa.domain.common import HttpVerb, SecurityHelper
from yookassa.domain.request import PaymentRequest, RefundRequest

from core.exceptions import IntegrationError, TransientError

SERVICE = "yookassa"
_config_lock = threading.Lock()
# A shorter timeout for one call (the webhook path), read by the session of the calling thread.
_call_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar("yookassa_call_timeout", default=None)


class _BoundedSession(requests.Session):
    def __init__(self, timeout: float) -> None:
        super().__init__()
        self._timeout = timeout
        self.trust_env = False
        self.mount("http://", HTTPAdapter(max_retries=0))
        self.mount("https://", HTTPAdapter(max_retries=0))

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        override = _call_timeout.get()
        if override is not None:
            kwargs["timeout"] = override
        kwargs.setdefault("timeout", self._timeout)
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout
        return super().request(*args, **kwargs)

    def close(self) -> None:
        """The SDK closes its session after every call; ours is kept per thread for keep-alive."""


_sessions = threading.local()


class _ApiClient(ApiClient):
    @staticmethod
    def get_response_info(response: requests.Response) -> dict[str, Any]:
        """The SDK builds this for its optional logger after every call, running a charset detection
        over the body (``apparent_encoding``) even when no logger is set: CPU on the webhook's hot
        path (PERF-4) for nothing, as we never set ``Configuration.logger``. Errors are still raised
        as the SDK's own exceptions, by the status check in ``ApiClient.request``."""
        return {"status_code": response.status_code, "reason": response.reason, "url": response.url}

    def get_session(self) -> requests.Session:
        session = getattr(_sessions, "session", None)
        if session is None:
            session = _sessions.session = _BoundedSession(settings.YOOKASSA_TIMEOUT_SECONDS)
        return session


@dataclass(frozen=True)
class YkPayment:
    id: str
    status: str
    paid: bool
    amount: int  # kopecks
    confirmation_url: str
    metadata: dict[str, Any]
    method_type: str
    raw: dict[str, Any]


@dataclass(frozen=True)
class YkRefund:
    id: str
    status: str
    payment_id: str


def _to_minor(value: str | float) -> int:
    return round(float(value) * 100)


def _money(kopecks: int) -> dict[str, str]:
    return {"value": f"{kopecks // 100}.{kopecks % 100:02d}", "currency": "RUB"}


def _payment(data: dict[str, Any]) -> YkPayment:
    confirmation = data.get("confirmation") or {}
    return YkPayment(
        id=data["id"],
        status=data["status"],
        paid=bool(data.get("paid")),
        amount=_to_minor(data["amount"]["value"]),
        confirmation_url=confirmation.get("confirmation_url", ""),
        metadata=data.get("metadata") or {},
        method_type=(data.get("payment_method") or {}).get("type", ""),
        raw=data,
    )


def is_ip_trusted(ip: str) -> bool:
    """Whether ``ip`` is in YooKassa's published notification ranges (an empty or bad address is not)."""
    try:
        return bool(ip) and bool(SecurityHelper().is_ip_trusted(ip))
    except (ValueError, TypeError, AddrFormatError):
        return False


class YooKassaClient:
    def __init__(self, *, shop_id: str, secret_key: str) -> None:
        if not shop_id or not secret_key:
            raise IntegrationError("YooKassa credentials are not configured", service=SERVICE, permanent=True)
        self.shop_id = shop_id
        self.secret_key = secret_key

    def _client(self) -> ApiClient:
        # An ApiClient captures the configuration when built; one per thread and credentials is reused.
        cache = _sessions.__dict__.setdefault("clients", {})
        key = (self.shop_id, str(self.secret_key), settings.YOOKASSA_API_URL)
        client = cache.get(key)
        if client is not None:
            return client
        with _config_lock:
            Configuration.configure(
                self.shop_id, str(self.secret_key), api_url=settings.YOOKASSA_API_URL, max_attempts=1
            )
            client = cache[key] = _ApiClient()
            return client

    def _call(self, method: str, path: str, *, body: Any = None, key: str | None = None) -> dict[str, Any]:
        headers = {"Idempotence-Key": key} if key else None
        try:
            return self._client().request(method, path, None, headers, body)
        except (AttributeError, requests.RequestException) as exc:  # SDK hides network errors this way
            raise TransientError(f"network error calling YooKassa: {type(exc).__name__}", service=SERVICE) from exc
        except (
            yk_errors.TooManyRequestsError,
            yk_errors.InternalServerError,
            yk_errors.ResponseProcessingError,
        ) as exc:
            raise TransientError(f"YooKassa answered {type(exc).__name__}", service=SERVICE) from exc
        except yk_errors.ApiError as exc:
            if type(exc) is yk_errors.ApiError:
                # The SDK names every 4xx it knows; a bare ApiError is any other status — a 502/503/504
                # from a gateway, whose request may well have been applied: retry with the same key.
                raise TransientError("YooKassa answered an unexpected status", service=SERVICE) from exc
            raise IntegrationError(
                f"YooKassa refused: {type(exc).__name__}",
                service=SERVICE,
                permanent=True,
                status_code=getattr(exc, "HTTP_CODE", None),
            ) from exc

    def create_payment(
        self,
        *,
        order_id: str,
        amount: int,
        description: str,
        return_url: str,
        capture: bool,
        receipt: dict[str, Any] | None = None,
    ) -> YkPayment:
        params: dict[str, Any] = {
            "amount": _money(amount),
            "capture": capture,
            "confirmation": {"type": "redirect", "return_url": return_url},
            "description": description[:128],
            "metadata": {"order_id": order_id},
        }
        if receipt:
            params["receipt"] = receipt
        request = PaymentRequest(params)
        return _payment(self._call(HttpVerb.POST, "/payments", body=request, key=f"yk-create-{order_id}"))

    def get_payment(self, payment_id: str, *, timeout: float | None = None) -> YkPayment:
        """``timeout`` (seconds) bounds this one call (the SDK makes a single attempt: ``max_attempts=1``)."""
        token = _call_timeout.set(timeout)
        try:
            return _payment(self._call(HttpVerb.GET, f"/payments/{payment_id}"))
        finally:
            _call_timeout.reset(token)

    def capture(self, payment_id: str, *, amount: int, key: str) -> YkPayment:
        body = {"amount": _money(amount)}
        return _payment(self._call(HttpVerb.POST, f"/payments/{payment_id}/capture", body=body, key=key))

    def cancel(self, payment_id: str, *, key: str) -> YkPayment:
        return _payment(self._call(HttpVerb.POST, f"/payments/{payment_id}/cancel", key=key))

    def refund(self, payment_id: str, *, amount: int, key: str) -> YkRefund:
        request = RefundRequest({"payment_id": payment_id, "amount": _money(amount)})
        data = self._call(HttpVerb.POST, "/refunds", body=request, key=key)
        return YkRefund(id=data["id"], status=data["status"], payment_id=data["payment_id"])

    def get_refund(self, refund_id: str) -> YkRefund:
        data = self._call(HttpVerb.GET, f"/refunds/{refund_id}")
        return YkRefund(id=data["id"], status=data["status"], payment_id=data["payment_id"])
