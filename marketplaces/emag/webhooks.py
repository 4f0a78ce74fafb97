"""The eMAG new-order callback (SPEC MKT-2b): ``GET /webhooks/emag/<account token>/?order_id=N``.

eMAG signs nothing, so the unguessable per-account token in the path is the credential: an unknown
token is a 404 that changes nothing. A known one records the callback and enqueues reading, storing
and acknowledging the order; eMAG gets its 200 at once and repeats the callback until acknowledged.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from core import jsonsafe
from core.api.errors import error_body

from .models import EmagAccount
from .services import orders

log = logging.getLogger(__name__)
MAX_ORDER_ID = 2**63 - 1


@require_GET
def new_order_callback(request: HttpRequest, token: str) -> JsonResponse:
    # A NUL or a lone surrogate in the path would fail the query (a 500): such a token is simply unknown.
    known = len(token) <= 64 and jsonsafe.problem(token) is None
    account = EmagAccount.objects.filter(callback_token=token, is_active=True).first() if known else None
    if account is None:
        log.warning("eMAG callback with an unknown account token")
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    raw = request.GET.get("order_id", "")
    # isascii: "²".isdigit() is True, but int("²") raises (a 500).
    if not (raw.isascii() and raw.isdigit()) or not 0 < int(raw) <= MAX_ORDER_ID:
        log.info("eMAG callback for account %s without a valid order_id", account.pk)
        return JsonResponse(
            error_body(
                "validation_error",
                "order_id must be a positive integer.",
                {"order_id": ["A positive integer is required."]},
            ),
            status=400,
        )
    callback = orders.callback_receive(account=account, emag_order_id=int(raw))
    return JsonResponse({"ok": True, "order_id": int(raw), "received": callback.pk})
