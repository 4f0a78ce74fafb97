"""Provider notifications: authenticate first, store once, answer at once, process in a task.

YooKassa notifications are not signed: the payment is re-read from the API and the notification
is accepted only if the provider confirms it. T-Bank notifications carry a SHA-256 token, checked
before anything else, then confirmed with GetState. Forged or unverifiable → 400/403, nothing
changes, logged (REL-2). Authentic → 200 (T-Bank: body exactly ``OK``), also for duplicates and
business outcomes such as an expired order, so the provider stops redelivering.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from core import jsonsafe
from core.exceptions import IntegrationError, TransientError

from .clients import tbank as tbank_client
from .clients import yookassa as yk_client
from .models import Payment, PaymentAccount, Provider
from .services import providers
from .services.payments import payment_for_notification, status_confirms, webhook_record

log = logging.getLogger("payments.webhooks")

_YK_EVENTS = {
    "payment.succeeded": "succeeded",
    "payment.waiting_for_capture": "waiting_for_capture",
    "payment.canceled": "canceled",
}


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _reject(status: int, reason: str, request: HttpRequest, provider: str) -> JsonResponse:
    log.warning("rejected %s notification from %s: %s", provider, _client_ip(request), reason)
    return JsonResponse({"error": {"code": "rejected", "message": reason, "fields": {}}}, status=status)


def _account(payment: Payment) -> PaymentAccount | None:
    try:
        return providers.account_for(payment.order.merchant_id)
    except IntegrationError:  # the merchant has no payment account: a configuration error
        return None


def _body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        data = jsonsafe.loads(request.body or b"null")
    except ValueError:  # jsonsafe raises only ValueError: malformed, not UTF-8, too deep
        return None
    return data if isinstance(data, dict) and not _has_nul(data) else None


def _has_nul(value: Any) -> bool:
    """NUL characters: no provider sends them, and PostgreSQL text and jsonb cannot hold them."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


@csrf_exempt
@require_POST
def yookassa(request: HttpRequest) -> HttpResponse:
    if settings.YOOKASSA_CHECK_IP and not yk_client.is_ip_trusted(_client_ip(request)):
        return _reject(403, "sender IP is not YooKassa's", request, "yookassa")
    data = _body(request)
    obj = (data or {}).get("object")
    event = (data or {}).get("event")
    if not isinstance(obj, dict) or not isinstance(event, str) or not isinstance(obj.get("id"), str):
        return _reject(400, "malformed notification", request, "yookassa")
    if event.startswith("refund."):
        log.info("yookassa %s for refund %s noted", event, obj.get("id"))
        return HttpResponse(status=200)
    claimed = _YK_EVENTS.get(event)
    if claimed is None:
        log.info("yookassa event %s ignored", event)
        return HttpResponse(status=200)
    event_key = f"{event}:{obj['id']}"
    payment = payment_for_notification(provider=Provider.YOOKASSA, provider_payment_id=obj["id"], event_key=event_key)
    if payment is None:
        return _reject(400, "unknown payment", request, "yookassa")
    if payment.known:  # type: ignore[attr-defined]
        # Already authenticated and stored once: a redelivery. Nothing in this body is used, so it
        # cannot change anything even if forged; answering 200 stops the provider's retries.
        return HttpResponse(status=200)
    account = _account(payment)
    if account is None:
        return _reject(400, "the merchant has no payment account", request, "yookassa")
    try:
        remote = providers.fetch(provider=Provider.YOOKASSA, account=account, provider_payment_id=obj["id"])
    except TransientError:
        return JsonResponse({"error": {"code": "retry", "message": "provider unavailable", "fields": {}}}, status=503)
    except IntegrationError:
        return _reject(400, "payment not found at the provider", request, "yookassa")
    if remote.order_id != str(payment.order_id) or not status_confirms(claimed, remote.status):
        return _reject(400, f"provider reports {remote.status}, notification claims {claimed}", request, "yookassa")
    webhook_record(
        provider=Provider.YOOKASSA,
        event_key=event_key,
        event=event,
        payment_id=payment.pk,
        provider_payment_id=obj["id"],
        verified_status=remote.status,
        payload=data or {},
        remote_addr=_client_ip(request),
    )
    return HttpResponse(status=200)


@csrf_exempt
@require_POST
def tbank(request: HttpRequest) -> HttpResponse:
    data = _body(request)
    if data is None or "PaymentId" not in data or "Token" not in data:
        return _reject(400, "malformed notification", request, "tbank")
    event_key = f"{data['PaymentId']}:{data.get('Status')}"
    payment = payment_for_notification(provider=Provider.TBANK, provider_payment_id=str(data["PaymentId"]),
                                       event_key=event_key)
    if payment is None:
        return _reject(400, "unknown payment", request, "tbank")
    account = _account(payment)
    if account is None:
        return _reject(400, "the merchant has no payment account", request, "tbank")
    if data.get("TerminalKey") != account.tbank_terminal_key or not tbank_client.token_valid(
        data, str(account.tbank_password)
    ):
        return _reject(403, "bad token", request, "tbank")
    if payment.known:  # type: ignore[attr-defined]
        return HttpResponse("OK", content_type="text/plain")  # an authentic redelivery of a stored event
    try:
        remote = providers.fetch(provider=Provider.TBANK, account=account, provider_payment_id=str(data["PaymentId"]))
    except TransientError:
        return JsonResponse({"error": {"code": "retry", "message": "provider unavailable", "fields": {}}}, status=503)
    except IntegrationError:
        return _reject(400, "payment not found at the provider", request, "tbank")
    claimed = tbank_client.STATUS_MAP.get(str(data.get("Status")), "pending")
    if not status_confirms(claimed, remote.status):
        return _reject(400, f"provider reports {remote.status}, notification claims {claimed}", request, "tbank")
    webhook_record(
        provider=Provider.TBANK,
        event_key=event_key,
        event=str(data.get("Status")),
        payment_id=payment.pk,
        provider_payment_id=str(data["PaymentId"]),
        verified_status=remote.status,
        payload=data,
        remote_addr=_client_ip(request),
    )
    return HttpResponse("OK", content_type="text/plain")
