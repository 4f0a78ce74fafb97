"""T-Bank acquiring v2 simulator: Init, GetState, Confirm, Cancel, a payment page, signed notifications.

Requests are checked by their SHA-256 ``Token`` against ``accounts`` ({terminal_key: password}).
``Cancel`` with an ``ExternalRequestId`` already applied answers as the first time (API_CONTRACTS.md);
without it, a second Cancel or Confirm of the same payment is refused (wrong status), as nothing
promises otherwise.
notifications carry a token computed the same way, so our webhook's check is exercised for real.
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
import urllib.request
from typing import Any

from .harness import Request, Response, Simulator, json_response
from .registry import SimulatorSpec, register_simulator


def token(fields: dict[str, Any], password: str) -> str:
    values = {k: v for k, v in fields.items() if k != "Token" and not isinstance(v, dict | list) and v is not None}
    values["Password"] = password
    text = "".join(("true" if v else "false") if isinstance(v, bool) else str(v) for _, v in sorted(values.items()))
    return hashlib.sha256(text.encode()).hexdigest()


class TBankSimulator(Simulator):
    name = "tbank"

    def reset_state(self) -> None:
        # ``operations``: every Confirm and Cancel really applied, in order (tests count them).
        self.state = {
            "payments": {},
            "by_order": {},
            "cancels": {},
            "notifications": [],
            "next_id": 7000000,
            "operations": [],
        }
        self.accounts: dict[str, str] = dict(self.options.get("accounts") or {"DemoTerminal": "demo-password"})

    def setup(self) -> None:
        for method in ("Init", "GetState", "Confirm", "Cancel"):
            self.route("POST", rf"/{method}")(getattr(self, method.lower()))
        self.route("GET", r"/pay/(?P<id>\d+)")(self.pay_page)
        self.route("POST", r"/pay/(?P<id>\d+)")(self.pay_action)

    def _fail(self, code: str, message: str) -> Response:
        return json_response({"Success": False, "ErrorCode": code, "Message": message})

    def _auth(self, body: dict[str, Any]) -> str | None:
        password = self.accounts.get(str(body.get("TerminalKey")))
        if password is None or body.get("Token") != token(body, password):
            return None
        return password

    def init(self, request: Request) -> Response:
        body = request.json() or {}
        if self._auth(body) is None:
            return self._fail("204", "Неверный токен")
        with self.lock:
            existing = self.state["by_order"].get((body["TerminalKey"], str(body.get("OrderId"))))
            if existing:
                payment = self.state["payments"][existing]
            else:
                self.state["next_id"] += 1
                pid = str(self.state["next_id"])
                payment = {
                    "PaymentId": pid,
                    "TerminalKey": body["TerminalKey"],
                    "OrderId": str(body["OrderId"]),
                    "Amount": int(body["Amount"]),
                    "Status": "NEW",
                    "PayType": body.get("PayType", "O"),
                    "SuccessURL": body.get("SuccessURL", ""),
                    "NotificationURL": body.get("NotificationURL", ""),
                }
                self.state["payments"][pid] = payment
                self.state["by_order"][(body["TerminalKey"], payment["OrderId"])] = pid
        return json_response(
            {
                "Success": True,
                "ErrorCode": "0",
                "TerminalKey": payment["TerminalKey"],
                "Status": payment["Status"],
                "PaymentId": payment["PaymentId"],
                "OrderId": payment["OrderId"],
                "Amount": payment["Amount"],
                "PaymentURL": f"{self.base_url}/pay/{payment['PaymentId']}",
            }
        )

    def _payment(self, body: dict[str, Any]) -> dict[str, Any] | None:
        payment = self.state["payments"].get(str(body.get("PaymentId")))
        return payment if payment and payment["TerminalKey"] == body.get("TerminalKey") else None

    def getstate(self, request: Request) -> Response:
        body = request.json() or {}
        if self._auth(body) is None:
            return self._fail("204", "Неверный токен")
        payment = self._payment(body)
        if payment is None:
            return self._fail("7", "Платёж не найден")
        return json_response(
            {
                "Success": True,
                "ErrorCode": "0",
                **{k: payment[k] for k in ("TerminalKey", "PaymentId", "OrderId", "Amount", "Status")},
            }
        )

    def confirm(self, request: Request) -> Response:
        body = request.json() or {}
        if self._auth(body) is None:
            return self._fail("204", "Неверный токен")
        with self.lock:
            payment = self._payment(body)
            if payment is None:
                return self._fail("7", "Платёж не найден")
            if payment["Status"] != "AUTHORIZED":  # Confirm has no idempotence key: a repeat is refused
                return self._fail("8", f"Неверный статус {payment['Status']}")
            payment["Status"] = "CONFIRMED"
            self.state["operations"].append(("confirm", payment["PaymentId"]))
            self._notify(payment, sync=False)
        return json_response(
            {
                "Success": True,
                "ErrorCode": "0",
                "PaymentId": payment["PaymentId"],
                "Status": payment["Status"],
                "TerminalKey": payment["TerminalKey"],
            }
        )

    def cancel(self, request: Request) -> Response:
        body = request.json() or {}
        if self._auth(body) is None:
            return self._fail("204", "Неверный токен")
        with self.lock:
            payment = self._payment(body)
            if payment is None:
                return self._fail("7", "Платёж не найден")
            key = body.get("ExternalRequestId")
            if key and (payment["TerminalKey"], key) in self.state["cancels"]:
                return json_response(self.state["cancels"][(payment["TerminalKey"], key)])
            before = payment["Status"]
            if before in ("REVERSED", "REFUNDED", "CANCELED", "REJECTED"):
                return self._fail("8", f"Неверный статус {before}")  # nothing left to give back
            payment["Status"] = {"AUTHORIZED": "REVERSED", "CONFIRMED": "REFUNDED"}.get(before, "CANCELED")
            self.state["operations"].append(("cancel", payment["PaymentId"]))
            answer = {
                "Success": True,
                "ErrorCode": "0",
                "PaymentId": payment["PaymentId"],
                "Status": payment["Status"],
                "OriginalAmount": payment["Amount"],
                "NewAmount": 0,
                "TerminalKey": payment["TerminalKey"],
            }
            if key:  # a repeat with the same ExternalRequestId gets this answer again, nothing more
                self.state["cancels"][(payment["TerminalKey"], key)] = answer
            self._notify(payment, sync=False)
        return json_response(answer)

    def pay(self, payment_id: str, *, success: bool = True) -> dict[str, Any]:
        with self.lock:
            payment = self.state["payments"][payment_id]
            if payment["Status"] == "NEW":
                if not success:
                    payment["Status"] = "REJECTED"
                else:
                    payment["Status"] = "AUTHORIZED" if payment["PayType"] == "T" else "CONFIRMED"
            snapshot = dict(payment)
        if snapshot["Status"] == "CONFIRMED" and snapshot["PayType"] == "O":
            self._notify({**snapshot, "Status": "AUTHORIZED"})  # one-stage: AUTHORIZED then CONFIRMED
        self._notify(snapshot)
        return snapshot

    def notification(self, payment: dict[str, Any], **overrides: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "TerminalKey": payment["TerminalKey"],
            "OrderId": payment["OrderId"],
            "Success": payment["Status"] not in ("REJECTED",),
            "Status": payment["Status"],
            "PaymentId": int(payment["PaymentId"]),
            "ErrorCode": "0",
            "Amount": payment["Amount"],
            "CardId": 322264,
            "Pan": "430000******0777",
            "ExpDate": "1130",
            **overrides,
        }
        body["Token"] = token(body, self.accounts[payment["TerminalKey"]])
        return body

    def _notify(self, payment: dict[str, Any], sync: bool = True) -> None:
        body = self.notification(payment)
        self.state["notifications"].append(body)
        if not payment.get("NotificationURL"):
            return
        if sync:
            self.send(body, payment["NotificationURL"])
        else:
            threading.Thread(target=self.send, args=(body, payment["NotificationURL"]), daemon=True).start()

    @staticmethod
    def send(body: dict[str, Any], url: str) -> tuple[int, str]:
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), method="POST", headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return int(response.status), response.read().decode()
        except urllib.error.HTTPError as exc:
            return int(exc.code), exc.read().decode(errors="replace")
        except OSError:
            return 0, ""

    def pay_page(self, request: Request) -> Response:
        payment = self.state["payments"].get(request.params["id"])
        if payment is None:
            return Response(status=404, body="<h1>Платёж не найден</h1>", content_type="text/html; charset=utf-8")
        page = f"""<!doctype html><html lang="ru"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>T-Bank (песочница)</title></head><body>
<h1>T-Bank — песочница</h1><p>К оплате: <b>{payment["Amount"] / 100:.2f} ₽</b></p>
<p>Статус: {html.escape(payment["Status"])}</p>
<form method="post"><button name="action" value="pay" id="pay-card">Оплатить</button>
<button name="action" value="reject" id="reject">Отклонить</button></form></body></html>"""
        return Response(status=200, body=page, content_type="text/html; charset=utf-8")

    def pay_action(self, request: Request) -> Response:
        payment_id = request.params["id"]
        if payment_id not in self.state["payments"]:
            return Response(status=404, body="not found", content_type="text/plain")
        payment = self.pay(payment_id, success=request.form().get("action") == "pay")
        return Response(status=302, body=b"", headers={"Location": payment["SuccessURL"]}, content_type="text/plain")


register_simulator(SimulatorSpec(name="tbank", factory=TBankSimulator, port_offset=11, settings={"TBANK_API_URL": ""}))
