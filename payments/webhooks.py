"""Provider notifications: parse, hand to ``services.webhooks.webhook_receive``, map its outcome to HTTP.

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
from core.clientip import client_ip
from core.logging import untrusted

from .clients import tbank as tbank_client
from .clients import yookassa as yk_client
from .models import PaymentAccount, Provider
from .services.webhooks import Notification, Outcome, webhook_receive

log = logging.getLogger("payments.webhooks")

_YK_EVENTS = {
    "payment.succeeded": "succeeded",
    "payment.waiting_for_capture": "waiting_for_capture",
    "payment.canceled": "canceled",
}


def _reject(status: int, reason: str, request: HttpRequest, provider: str) -> JsonResponse:
    log.warning("rejected %s notification from %s: %s", provider, untrusted(client_ip(request)), untrusted(reason, 200))
    return JsonResponse({"error": {"code": "rejected", "message": reason, "fields": {}}}, status=status)


def _body(request: HttpRequest) -> dict[str, Any] | None:
    try:
        data = jsonsafe.loads(request.body or b"null")
    except jsonsafe.JSONInputError as exc:  # malformed, not UTF-8, too deep, NaN, NUL, lone surrogates
        log.info("notification body refused: %s", untrusted(str(exc), 200))
        return None
    return data if isinstance(data, dict) else None


def _respond(outcome: Outcome, request: HttpRequest, provider: str, ok: HttpResponse) -> HttpResponse:
    if outcome.ok:
        return ok
    if outcome.status == 503:
        return JsonResponse({"error": {"code": "retry", "message": outcome.reason, "fields": {}}}, status=503)
    return _reject(outcome.status, outcome.reason, request, provider)


@csrf_exempt
@require_POST
def yookassa(request: HttpRequest) -> HttpResponse:
    if settings.YOOKASSA_CHECK_IP and not yk_client.is_ip_trusted(client_ip(request)):
        return _reject(403, "sender IP is not YooKassa's", request, "yookassa")
    data = _body(request)
    obj = (data or {}).get("object")
    event = (data or {}).get("event")
    if not isinstance(obj, dict) or not isinstance(event, str) or not isinstance(obj.get("id"), str):
        return _reject(400, "malformed notification", request, "yookassa")
    if event.startswith("refund."):
        log.info("yookassa %s for refund %s noted", untrusted(event), untrusted(obj.get("id")))
        return HttpResponse(status=200)
    claimed = _YK_EVENTS.get(event)
    if claimed is None:
        log.info("yookassa event %s ignored", untrusted(event))
        return HttpResponse(status=200)
    notification = Notification(
        provider=Provider.YOOKASSA,
        event_key=f"{event}:{obj['id']}",
        event=event,
        provider_payment_id=obj["id"],
        claimed=claimed,
        payload=data or {},
    )
    outcome = webhook_receive(notification=notification, remote_addr=client_ip(request))
    return _respond(outcome, request, "yookassa", HttpResponse(status=200))


@csrf_exempt
@require_POST
def tbank(request: HttpRequest) -> HttpResponse:
    data = _body(request)
    if data is None or "PaymentId" not in data or "Token" not in data:
        return _reject(400, "malformed notification", request, "tbank")
    fields = data

    def authentic(account: PaymentAccount) -> bool:
        return fields.get("TerminalKey") == account.tbank_terminal_key and tbank_client.token_valid(
            fields, str(account.tbank_password)
        )

    notification = Notification(
        provider=Provider.TBANK,
        event_key=f"{data['PaymentId']}:{data.get('Status')}",
        event=str(data.get("Status")),
        provider_payment_id=str(data["PaymentId"]),
        claimed=tbank_client.STATUS_MAP.get(str(data.get("Status")), "pending"),
        payload=data,
        authenticate=authentic,
        check_order=False,
    )
    outcome = webhook_receive(notification=notification, remote_addr=client_ip(request))
    return _respond(outcome, request, "tbank", HttpResponse("OK", content_type="text/plain"))
