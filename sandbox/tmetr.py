"""Tmetr telemetry simulator: drink prices, the brew command (JSON array), heartbeats.

The machine behind it de-duplicates on ``orderUuid``: a resent command makes no second drink.
``fail_devices`` answers 500 for those devices (a failed brew).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .harness import Request, Response, Simulator, json_response
from .registry import SimulatorSpec, register_simulator

SIZES = {"SMALL": 0, "MEDIUM": 1, "BIG": 2}


class TmetrSimulator(Simulator):
    name = "tmetr"

    def reset_state(self) -> None:
        self.state: dict[str, Any] = {"commands": [], "made": {}, "prices": {}, "fail_devices": set()}
        self.base_price = int(self.options.get("base_price", 12000))

    def setup(self) -> None:
        self.route("POST", r"/api/ui/v1/static/drink")(self.drink)
        self.route("POST", r"/api/commander/v1/command/make")(self.make)
        self.route("POST", r"/api/ui/v1/stat/heartbeat/recent")(self.heartbeat)

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("Authorization", "").startswith("Bearer ") or not self.options.get("require_token")

    def drink(self, request: Request) -> Response:
        if not self._authorized(request):
            return json_response({"error": "unauthorized"}, 401)
        body = request.json() or {}
        if not body.get("deviceId") or body.get("drinkSize") not in SIZES:
            return json_response({"error": "bad request"}, 400)
        key = (str(body["deviceId"]), str(body.get("drinkIdAtDevice")), body["drinkSize"])
        price = self.state["prices"].get(key, self.base_price + 3000 * SIZES[body["drinkSize"]])
        return json_response(
            {
                "deviceId": body["deviceId"],
                "drinkIdAtDevice": body.get("drinkIdAtDevice"),
                "drinkSize": body["drinkSize"],
                "price": price,
                "name": f"Напиток {key[1]}",
            }
        )

    def make(self, request: Request) -> Response:
        if not self._authorized(request):
            return json_response({"error": "unauthorized"}, 401)
        body = request.json()
        if not isinstance(body, list) or not body:
            return json_response({"error": "a JSON array of commands is expected"}, 400)
        with self.lock:
            for command in body:
                if not isinstance(command, dict) or not command.get("orderUuid") or not command.get("deviceId"):
                    return json_response({"error": "deviceId and orderUuid are required"}, 400)
                if str(command["deviceId"]) in self.state["fail_devices"]:
                    return json_response({"error": "device error"}, 500)
                self.state["commands"].append(command)
                self.state["made"].setdefault(command["orderUuid"], command)
        return json_response({"success": True})

    def heartbeat(self, request: Request) -> Response:
        body = request.json() or {}
        now = datetime.now(UTC).isoformat()
        return json_response(
            {
                "content": [{"deviceId": d, "heartbeatCreatedAt": now} for d in body.get("deviceIds", [])],
                "totalElements": len(body.get("deviceIds", [])),
            }
        )


register_simulator(SimulatorSpec(name="tmetr", factory=TmetrSimulator, port_offset=12, settings={"TMETR_API_URL": ""}))
