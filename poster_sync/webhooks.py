"""``/webhooks/poster/``: GET is Poster's reachability check; POST is a delivery (SPEC POS-4).

Parse (JSON or form-encoded) → verify the ``verify`` field → store once → answer
``{"status": "accept"}`` at once; the object is synced in a task. Forged → 403, malformed → 400,
too big → 413; an authentic duplicate or an object we do not sync → 200 so Poster stops retrying.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.views.decorators.csrf import csrf_exempt

from core import jsonsafe
from core.api.errors import error_body
from core.clientip import client_ip
from core.logging import untrusted

from .services.webhooks import Delivery, webhook_receive

log = logging.getLogger("poster_sync.webhooks")

# Poster's deliveries are flat; a form's fields are strings, a JSON body is refused past this depth.
POSTER_MAX_DEPTH = 16
SIGNED = ("account", "object", "object_id", "action", "time", "verify")


def _error(status: int, code: str, message: str, request: HttpRequest) -> JsonResponse:
    log.warning(
        "Poster webhook from %s refused (%s): %s",
        untrusted(client_ip(request)),
        status,
        untrusted(message, 200),
    )
    return JsonResponse(error_body(code, message), status=status)


def _parse(request: HttpRequest, body: bytes) -> dict[str, Any] | None:
    content_type = (request.content_type or "").lower()
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return {key: request.POST.get(key) for key in request.POST}
    try:
        data = jsonsafe.loads(body, max_depth=POSTER_MAX_DEPTH, max_bytes=settings.POSTER_WEBHOOK_MAX_BYTES)
    except jsonsafe.JSONInputError:
        return None
    return data if isinstance(data, dict) else None


def _scalar(value: Any) -> str | None:
    """Signed values as the strings Poster signed: strings as they are, integers in decimal."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _delivery(data: dict[str, Any]) -> Delivery | str:
    values: dict[str, str] = {}
    for name in SIGNED:
        value = _scalar(data.get(name))
        if not value:
            return f"missing or invalid field: {name}"
        values[name] = value
    raw = data.get("data")
    alternatives: tuple[str, ...] = ()
    if raw is None:
        data_str = None
    elif isinstance(raw, str):
        data_str = raw
    elif isinstance(raw, (dict, list)):
        # Contract: a JSON string. Some senders embed the object itself; its text form is not
        # unique, so the usual serialisations are tried (each still needs the secret to match).
        data_str = json.dumps(raw, ensure_ascii=False, separators=(",", ":"))
        alternatives = (json.dumps(raw, ensure_ascii=False), json.dumps(raw), json.dumps(raw, separators=(",", ":")))
    else:
        return "invalid field: data"
    return Delivery(
        data=data_str,
        data_alternatives=alternatives,
        account_number=str(_scalar(data.get("account_number")) or ""),
        **values,
    )


@csrf_exempt
def poster(request: HttpRequest) -> JsonResponse:
    if request.method in ("GET", "HEAD"):
        return JsonResponse({"status": "ok"})
    if request.method != "POST":
        response = JsonResponse(
            error_body("method_not_allowed", "Use POST (or GET to check reachability)."), status=405
        )
        response["Allow"] = "GET, POST"
        return response
    limit = settings.POSTER_WEBHOOK_MAX_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _error(400, "bad_request", "Invalid Content-Length.", request)
    if declared > limit:
        return _error(413, "too_large", f"Body larger than {limit} bytes.", request)
    try:
        body = request.body
        if len(body) > limit:
            return _error(413, "too_large", f"Body larger than {limit} bytes.", request)
        data = _parse(request, body)
    except RequestDataTooBig:
        return _error(413, "too_large", f"Body larger than {limit} bytes.", request)
    except (SuspiciousOperation, MultiPartParserError, UnicodeDecodeError, ValueError):
        return _error(400, "malformed", "The body could not be parsed.", request)
    # A form's fields pass the same guard as a JSON body (NUL, lone surrogates) before they are stored.
    if data is None or jsonsafe.problem(data, max_depth=POSTER_MAX_DEPTH):
        return _error(400, "malformed", "Send a JSON object or a form with Poster's webhook fields.", request)
    delivery = _delivery(data)
    if isinstance(delivery, str):
        return _error(400, "malformed", delivery, request)
    received = webhook_receive(delivery=delivery, payload=data, remote_addr=client_ip(request))
    if received.outcome == "forged":
        return JsonResponse(error_body("forbidden", "The signature (verify) does not match."), status=403)
    return JsonResponse({"status": "accept"})
