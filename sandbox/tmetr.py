"""Tmetr telemetry simulator: drink prices, the brew command (JSON array), heartbeats, and the
Keycloak token endpoint in front of it.

Every accepted command brews a drink, as API_CONTRACTS.md has it: nothing de-duplicates a repeated
``orderUuid`` (``made`` lists one entry per drink made; ``brew_requests`` counts every brew request
that reached the machine). ``fail_devices`` answers 500 for those devices (a failed brew).

Tokens (option ``require_token``): False accepts any request; True any ``Bearer`` header;
``"issued"`` only access tokens this simulator issued and that have not expired — as Tmetr does.
The token endpoint speaks Keycloak's OpenID Connect form API (``grant_type=password`` or
``refresh_token``), issues JWT-shaped tokens living ``token_lifetime`` seconds (default 36000,
"~10 hours"), and rotates refresh tokens (a used one is spent, as with Keycloak's "revoke refresh
token"). ``users`` (username → password) restricts who may log in; by default anyone may.
``expire_access_tokens()`` makes every issued access token stale, as if hours had passed.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from .harness import Request, Response, Simulator, json_response
from .registry import SimulatorSpec, register_simulator

SIZES = {"SMALL": 0, "MEDIUM": 1, "BIG": 2}


class TmetrSimulator(Simulator):
    name = "tmetr"

    def reset_state(self) -> None:
        self.state: dict[str, Any] = {
            "commands": [],
            "made": [],
            "brew_requests": 0,
            "prices": {},
            "fail_devices": set(),
            "access": {},
            "refresh": {},
            "grants": {"password": 0, "refresh_token": 0},
            "rejected_tokens": 0,
        }
        self.base_price = int(self.options.get("base_price", 12000))

    def setup(self) -> None:
        self.route("POST", r"/api/ui/v1/static/drink")(self.drink)
        self.route("POST", r"/api/commander/v1/command/make")(self.make)
        self.route("POST", r"/api/ui/v1/stat/heartbeat/recent")(self.heartbeat)
        self.route("POST", r"/realms/(?P<realm>[^/]+)/protocol/openid-connect/token")(self.token)

    # --- Keycloak -------------------------------------------------------------------------------
    @staticmethod
    def _jwt(claims: dict[str, Any]) -> str:
        def part(data: dict[str, Any]) -> str:
            return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

        return f"{part({'alg': 'RS256', 'typ': 'JWT'})}.{part(claims)}.{secrets.token_urlsafe(32)}"

    def token(self, request: Request) -> Response:
        form = request.form()
        client_id = self.options.get("client_id")
        if client_id and form.get("client_id") != client_id:
            return json_response({"error": "unauthorized_client", "error_description": "Invalid client"}, 401)
        now = time.time()
        with self.lock:
            grant = form.get("grant_type")
            if grant == "password":
                users = self.options.get("users")  # None: anyone with a non-empty password may log in
                username, password = form.get("username", ""), form.get("password", "")
                if not username or not password or (users is not None and users.get(username) != password):
                    return json_response(
                        {"error": "invalid_grant", "error_description": "Invalid user credentials"}, 401
                    )
            elif grant == "refresh_token":
                known = self.state["refresh"].pop(form.get("refresh_token", ""), None)  # spent either way
                if known is None or known[1] < now:
                    return json_response({"error": "invalid_grant", "error_description": "Token is not active"}, 400)
                username = known[0]
            else:
                return json_response({"error": "unsupported_grant_type"}, 400)
            lifetime = int(self.options.get("token_lifetime", 36000))
            refresh_lifetime = int(self.options.get("refresh_lifetime", 86400))
            access = self._jwt({"exp": int(now + lifetime), "iat": int(now), "sub": username, "typ": "Bearer"})
            refresh = self._jwt(
                {"exp": int(now + refresh_lifetime), "iat": int(now), "sub": username, "typ": "Refresh"}
            )
            self.state["access"][access] = now + lifetime
            self.state["refresh"][refresh] = (username, now + refresh_lifetime)
            self.state["grants"][grant] += 1
        return json_response(
            {
                "access_token": access,
                "expires_in": lifetime,
                "refresh_token": refresh,
                "refresh_expires_in": refresh_lifetime,
                "token_type": "Bearer",
                "not-before-policy": 0,
                "scope": "profile email",
            }
        )

    def expire_access_tokens(self) -> None:
        with self.lock:
            self.state["access"] = {token: 0.0 for token in self.state["access"]}

    def _authorized(self, request: Request) -> bool:
        mode = self.options.get("require_token")
        header = request.headers.get("Authorization", "")
        if not mode:
            return True
        if mode != "issued":
            return header.startswith("Bearer ")
        with self.lock:
            ok = self.state["access"].get(header.removeprefix("Bearer "), 0.0) > time.time()
            if not ok:
                self.state["rejected_tokens"] += 1
            return ok

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
            self.state["brew_requests"] += 1
            for command in body:
                if not isinstance(command, dict) or not command.get("orderUuid") or not command.get("deviceId"):
                    return json_response({"error": "deviceId and orderUuid are required"}, 400)
                if str(command["deviceId"]) in self.state["fail_devices"]:
                    return json_response({"error": "device error"}, 500)
                self.state["commands"].append(command)
                self.state["made"].append(command["orderUuid"])
        return json_response({"success": True})

    def heartbeat(self, request: Request) -> Response:
        if not self._authorized(request):
            return json_response({"error": "unauthorized"}, 401)
        body = request.json() or {}
        now = datetime.now(UTC).isoformat()
        return json_response(
            {
                "content": [{"deviceId": d, "heartbeatCreatedAt": now} for d in body.get("deviceIds", [])],
                "totalElements": len(body.get("deviceIds", [])),
            }
        )


# `make run`: Tmetr as it really is, accepting only tokens its Keycloak issued (the demo merchant logs in).
register_simulator(
    SimulatorSpec(
        name="tmetr",
        factory=lambda: TmetrSimulator(require_token="issued"),
        port_offset=12,
        settings={"TMETR_API_URL": "", "TMETR_TOKEN_URL": "/realms/tmetr/protocol/openid-connect/token"},
    )
)
