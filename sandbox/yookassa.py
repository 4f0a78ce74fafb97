"""YooKassa REST v3 simulator, compatible with the official SDK (API_CONTRACTS.md).

Payments (create/find/capture/cancel), refunds, ``Idempotence-Key`` honoured as the real API does
(same key → the first answer again, no second operation; the key is remembered once the operation
is applied, even when its answer is then lost — the ``lose_answer_*`` fault knobs), HTTP Basic auth
checked against ``accounts`` (any non-empty pair when none is configured), a confirmation page
where a person pays by card (two-stage → held), pays by SBP (one-stage → succeeded at once) or
cancels, and notifications POSTed to ``webhook_url``. ``operations`` lists every capture, cancel
and refund applied.
"""

from __future__ import annotations

import base64
import html
import json
import threading
import urllib.request
import uuid
from datetime import UTC, datetime
from typing import Any

from .harness import Request, Response, Simulator, json_response
from .registry import SimulatorSpec, register_simulator


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _error(status: int, code: str, description: str) -> Response:
    return json_response({"type": "error", "id": str(uuid.uuid4()), "code": code, "description": description}, status)


class YooKassaSimulator(Simulator):
    name = "yookassa"

    def reset_state(self) -> None:
        # ``operations``: every capture, cancel and refund the shop really made, in order (tests count them).
        self.state = {"payments": {}, "refunds": {}, "idempotence": {}, "notifications": [], "operations": []}
        self.accounts: dict[str, str] = dict(self.options.get("accounts") or {})
        self.webhook_url: str = self.options.get("webhook_url") or ""
        self.notify_enabled: bool = bool(self.options.get("notify", True))
        self.notify_sync: bool = bool(self.options.get("notify_sync", True))

    def setup(self) -> None:
        self.route("POST", r"/payments")(self.create_payment)
        self.route("GET", r"/payments/(?P<id>[\w-]+)")(self.get_payment)
        self.route("POST", r"/payments/(?P<id>[\w-]+)/capture")(self.capture)
        self.route("POST", r"/payments/(?P<id>[\w-]+)/cancel")(self.cancel)
        self.route("POST", r"/refunds")(self.create_refund)
        self.route("GET", r"/refunds/(?P<id>[\w-]+)")(self.get_refund)
        self.route("GET", r"/confirm/(?P<id>[\w-]+)")(self.confirm_page)
        self.route("POST", r"/confirm/(?P<id>[\w-]+)")(self.confirm_action)

    def rate_limit_key(self, request: Request) -> str | None:
        return None if request.path.startswith("/confirm/") else "api"

    # --- auth and idempotence ------------------------------------------------------------------
    def _shop(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            shop_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        if not shop_id or not secret:
            return None
        if self.accounts and self.accounts.get(shop_id) != secret:
            return None
        return shop_id

    def _guarded(self, request: Request, handler: Any) -> Response:
        shop = self._shop(request)
        if shop is None:
            return _error(401, "invalid_credentials", "Authentication by given credentials failed")
        if request.method != "POST":
            return handler(shop)
        key = request.headers.get("Idempotence-Key", "")
        if not key:
            return _error(400, "invalid_request", "Idempotence-Key header is required")
        cache_key = (shop, request.path, key)
        with self.lock:
            cached = self.state["idempotence"].get(cache_key)
            if cached is not None:
                body, status = cached
                if body is not None and body != request.body:
                    return _error(400, "invalid_request", "Idempotence key duplicated with another request body")
                return json_response(json.loads(status[1]), status[0])
            response = handler(shop)
            self.state["idempotence"][cache_key] = (request.body, (response.status, response.encode()))
        return response

    # --- payments ----------------------------------------------------------------------------------
    def create_payment(self, request: Request) -> Response:
        def handler(shop: str) -> Response:
            body = request.json() or {}
            amount = body.get("amount") or {}
            if not amount.get("value") or amount.get("currency") != "RUB":
                return _error(400, "invalid_request", "amount is required")
            confirmation = body.get("confirmation") or {}
            if confirmation.get("type") != "redirect" or not confirmation.get("return_url"):
                return _error(400, "invalid_request", "confirmation.redirect with return_url is required")
            payment_id = f"{uuid.uuid4().hex[:8]}-000f-5000-a000-{uuid.uuid4().hex[:12]}"
            payment = {
                "id": payment_id,
                "status": "pending",
                "paid": False,
                "amount": amount,
                "confirmation": {
                    "type": "redirect",
                    "return_url": confirmation["return_url"],
                    "confirmation_url": f"{self.base_url}/confirm/{payment_id}",
                },
                "created_at": _now(),
                "description": body.get("description", ""),
                "metadata": body.get("metadata") or {},
                "recipient": {"account_id": shop, "gateway_id": "1"},
                "refundable": False,
                "test": True,
                "capture": body.get("capture", True) is not False,
            }
            if body.get("receipt"):
                payment["receipt_registration"] = "pending"
                payment["_receipt"] = body["receipt"]
            self.state["payments"][payment_id] = payment
            return json_response(self._public(payment))

        return self._guarded(request, handler)

    @staticmethod
    def _public(payment: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in payment.items() if not k.startswith("_") and k != "capture"}

    def get_payment(self, request: Request) -> Response:
        def handler(shop: str) -> Response:
            with self.lock:
                payment = self.state["payments"].get(request.params["id"])
                if payment is None or payment["recipient"]["account_id"] != shop:
                    return _error(404, "not_found", "Payment not found")
                return json_response(self._public(payment))

        return self._guarded(request, handler)

    def capture(self, request: Request) -> Response:
        def handler(shop: str) -> Response:
            payment = self.state["payments"].get(request.params["id"])
            if payment is None or payment["recipient"]["account_id"] != shop:
                return _error(404, "not_found", "Payment not found")
            if payment["status"] == "succeeded":
                return json_response(self._public(payment))
            if payment["status"] != "waiting_for_capture":
                return _error(400, "invalid_request", f"Payment is {payment['status']}")
            payment.update(status="succeeded", paid=True, captured_at=_now(), refundable=True)
            self.state["operations"].append(("capture", payment["id"]))
            self._notify("payment.succeeded", payment, sync=False)
            return json_response(self._public(payment))

        return self._guarded(request, handler)

    def cancel(self, request: Request) -> Response:
        def handler(shop: str) -> Response:
            payment = self.state["payments"].get(request.params["id"])
            if payment is None or payment["recipient"]["account_id"] != shop:
                return _error(404, "not_found", "Payment not found")
            if payment["status"] == "canceled":
                return json_response(self._public(payment))
            if payment["status"] not in ("pending", "waiting_for_capture"):
                return _error(400, "invalid_request", f"Payment is {payment['status']}")
            payment.update(
                status="canceled",
                paid=False,
                cancellation_details={"party": "merchant", "reason": "canceled_by_merchant"},
            )
            self.state["operations"].append(("cancel", payment["id"]))
            self._notify("payment.canceled", payment, sync=False)
            return json_response(self._public(payment))

        return self._guarded(request, handler)

    # --- refunds -----------------------------------------------------------------------------------
    def create_refund(self, request: Request) -> Response:
        def handler(shop: str) -> Response:
            body = request.json() or {}
            payment = self.state["payments"].get(str(body.get("payment_id")))
            if payment is None or payment["recipient"]["account_id"] != shop:
                return _error(404, "not_found", "Payment not found")
            if payment["status"] != "succeeded":
                return _error(400, "invalid_request", "Only succeeded payments can be refunded")
            refund = {
                "id": f"{uuid.uuid4().hex[:8]}-0015-5000-9000-{uuid.uuid4().hex[:12]}",
                "payment_id": payment["id"],
                "status": "succeeded",
                "created_at": _now(),
                "amount": body.get("amount") or payment["amount"],
            }
            self.state["refunds"][refund["id"]] = refund
            self.state["operations"].append(("refund", payment["id"]))
            payment["refunded_amount"] = refund["amount"]
            self._notify("refund.succeeded", refund, sync=False)
            return json_response(refund)

        return self._guarded(request, handler)

    def get_refund(self, request: Request) -> Response:
        def handler(shop: str) -> Response:
            refund = self.state["refunds"].get(request.params["id"])
            return json_response(refund) if refund else _error(404, "not_found", "Refund not found")

        return self._guarded(request, handler)

    # --- the buyer's side ------------------------------------------------------------------------
    def pay(self, payment_id: str, *, method: str = "bank_card") -> dict[str, Any]:
        """What happens when a person pays on the confirmation page (also used by tests)."""
        with self.lock:
            payment = self.state["payments"][payment_id]
            if payment["status"] != "pending":
                return payment
            payment["payment_method"] = {"type": method, "id": str(uuid.uuid4()), "saved": False}
            if payment["capture"] is False and method == "bank_card":
                payment.update(
                    status="waiting_for_capture", paid=True, expires_at=_now()
                )  # a card hold; SBP is one-stage only
                event = "payment.waiting_for_capture"
            else:
                payment.update(status="succeeded", paid=True, captured_at=_now(), refundable=True)
                event = "payment.succeeded"
            snapshot = dict(payment)
        self._notify(event, snapshot)
        return snapshot

    def decline(self, payment_id: str) -> dict[str, Any]:
        with self.lock:
            payment = self.state["payments"][payment_id]
            if payment["status"] == "pending":
                payment.update(
                    status="canceled", cancellation_details={"party": "payment_network", "reason": "canceled_by_user"}
                )
            snapshot = dict(payment)
        self._notify("payment.canceled", snapshot)
        return snapshot

    def notification(self, event: str, obj: dict[str, Any]) -> dict[str, Any]:
        return {"type": "notification", "event": event, "object": self._public(obj)}

    def _notify(self, event: str, obj: dict[str, Any], sync: bool | None = None) -> None:
        """Send the notification; never synchronously while holding the lock (our webhook reads back)."""
        body = self.notification(event, obj)
        with self.lock:
            self.state["notifications"].append(body)
        if not self.notify_enabled or not self.webhook_url:
            return
        if self.notify_sync if sync is None else sync:
            self.send(body)
        else:
            threading.Thread(target=self.send, args=(body,), daemon=True).start()

    def send(self, body: dict[str, Any], url: str | None = None) -> int:
        request = urllib.request.Request(
            url or self.webhook_url,
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            return int(exc.code)
        except OSError:
            return 0

    def confirm_page(self, request: Request) -> Response:
        payment = self.state["payments"].get(request.params["id"])
        if payment is None:
            return Response(status=404, body="<h1>Платёж не найден</h1>", content_type="text/html; charset=utf-8")
        value = html.escape(str(payment["amount"]["value"]))
        page = f"""<!doctype html><html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>ЮKassa (песочница)</title>
<style>body{{font-family:sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem}}
button{{display:block;width:100%;padding:1rem;margin:.6rem 0;font-size:1.05rem}}</style></head><body>
<h1>ЮKassa — песочница</h1><p>{html.escape(payment.get("description", ""))}</p><p>К оплате: <b>{value} ₽</b></p>
<p>Статус: <span id="payment-status">{html.escape(payment["status"])}</span></p>
<form method="post"><button name="action" value="card" id="pay-card">Оплатить картой</button>
<button name="action" value="sbp" id="pay-sbp">Оплатить через СБП</button>
<button name="action" value="cancel" id="cancel">Отменить</button></form></body></html>"""
        return Response(status=200, body=page, content_type="text/html; charset=utf-8")

    def confirm_action(self, request: Request) -> Response:
        payment_id = request.params["id"]
        if payment_id not in self.state["payments"]:
            return Response(status=404, body="not found", content_type="text/plain")
        action = request.form().get("action", "")
        if action == "card":
            payment = self.pay(payment_id, method="bank_card")
        elif action == "sbp":
            payment = self.pay(payment_id, method="sbp")
        else:
            payment = self.decline(payment_id)
        return Response(
            status=302, body=b"", headers={"Location": payment["confirmation"]["return_url"]}, content_type="text/plain"
        )


def _factory() -> YooKassaSimulator:
    from django.conf import settings

    return YooKassaSimulator(webhook_url=settings.PUBLIC_BASE_URL.rstrip("/") + "/webhooks/yookassa/")


register_simulator(SimulatorSpec(name="yookassa", factory=_factory, port_offset=10, settings={"YOOKASSA_API_URL": ""}))
