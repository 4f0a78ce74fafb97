"""A sandbox alert channel (SPEC OWN-4): Apprise's ``json://`` posts land here; ``GET /`` shows them.

`make run` gives the demo merchant an alert channel ``json://<host>:<port>/inbox`` pointing here
(``ALERTS_SANDBOX_URL``), so a raised alert can be read at ``http://<host>:<port>/`` without any
real Telegram or mail account. ``POST /fail`` / ``POST /recover`` switch it to answering 500, to
see a failing channel retried.
"""

from __future__ import annotations

import html
import time

from .harness import Request, Response, Simulator, json_body, json_response
from .registry import SimulatorSpec, register_simulator


class AlertInboxSimulator(Simulator):
    name = "alert_inbox"

    def reset_state(self) -> None:
        self.state = {"messages": [], "fail": False}

    def setup(self) -> None:
        self.route("POST", r"/inbox")(self.receive)
        self.route("GET", r"/messages")(self.messages)
        self.route("GET", r"/")(self.page)
        self.route("POST", r"/fail")(self.fail)
        self.route("POST", r"/recover")(self.recover)

    def receive(self, request: Request) -> Response:
        if self.state["fail"]:
            return json_response({"error": "inbox told to fail"}, 500)
        payload = json_body(request, invalid="not JSON")
        with self.lock:
            self.state["messages"].append(
                {
                    "at": time.strftime("%Y-%m-%d %H:%M:%S"),
                    "arrived": request.arrived_wall(),  # the kernel's receive time (benchmarks)
                    "title": str(payload.get("title", ""))[:500],
                    "message": str(payload.get("message", ""))[:5000],
                    "type": str(payload.get("type", ""))[:20],
                }
            )
            del self.state["messages"][:-500]
        return json_response({"ok": True})

    def messages(self, request: Request) -> Response:
        with self.lock:
            return json_response({"messages": list(self.state["messages"])})

    def page(self, request: Request) -> Response:
        with self.lock:
            items = list(reversed(self.state["messages"]))
        rows = "".join(
            f'<li class="message"><b>{html.escape(m["title"])}</b> <small>{m["at"]}</small>'
            f"<pre>{html.escape(m['message'])}</pre></li>"
            for m in items
        )
        body = (
            "<!doctype html><meta charset=utf-8><meta http-equiv=refresh content=5>"
            "<title>Sandbox alert inbox</title><h1>Sandbox alert inbox</h1>"
            f"<p>{len(items)} message(s); this page refreshes every 5 s.</p><ul id=messages>{rows}</ul>"
        )
        return Response(body=body, content_type="text/html; charset=utf-8")

    def fail(self, request: Request) -> Response:
        self.state["fail"] = True
        return json_response({"fail": True})

    def recover(self, request: Request) -> Response:
        self.state["fail"] = False
        return json_response({"fail": False})


register_simulator(
    SimulatorSpec(
        name="alert_inbox", factory=AlertInboxSimulator, port_offset=30, settings={"ALERTS_SANDBOX_URL": "/inbox"}
    )
)
