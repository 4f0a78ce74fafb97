"""Poster POS simulator (API_CONTRACTS.md "Poster POS"; SPEC PLAT-12, POS-1 … POS-4).

Speaks Poster's wire format: ``GET /api/{method}?token=&format=json`` answers ``{"response": ...}``
with every value a string, or ``{"error": {"code", "message"}}`` with HTTP 200 (700 = rate
restriction, 10/11/12 = token missing/invalid/expired). OAuth: an approval page at ``/api/auth``
that returns to ``redirect_uri?code=&account=``, and the form-data code exchange at
``/api/v2/auth/access_token``. A change to the catalogue (``change()`` or the control endpoint)
is followed by a webhook signed exactly as Poster signs it (``verify``), JSON or form-encoded,
redelivered a few times while the receiver does not answer 200; ``forged`` signs with a wrong
secret. Nothing here is kind beyond the contract: deliveries can repeat and arrive late.

Control (besides the harness's faults/reset/stats):
    POST /_sandbox/poster/change  {"object": "ingredient", "object_id": 1, "action": "changed",
                                   "fields": {"ingredient_name": "..."}, "data": {...}?, "forged": false,
                                   "form": false, "send": true, "account": "..."?}   (answers with the webhook body)
    POST /_sandbox/poster/accounts {"account": "name"}  another account with its own catalogue → {"token"}
    POST /_sandbox/poster/config  {"webhook_url", "app_secret", "rate_restriction_next", "expire_tokens",
                                   "calls_per_second", "webhook_retries", "webhook_retry_delay",
                                   "hold_next_read": "menu.getIngredient", "release_reads": true}
         ``hold_next_read``: the next call of that method is answered with the catalogue as it is when
         the call arrives, but the answer is held back until ``release_reads`` (at most the harness's
         hang limit): a slow network path, so an earlier read can answer after a later one.
    GET  /_sandbox/poster/deliveries   what was sent and the receiver's HTTP status
"""

from __future__ import annotations

import html
import json
import os
import secrets
import threading
import time
import urllib.parse
from collections import deque
from typing import Any

from poster_sync.demo_account import SANDBOX_ACCOUNT, SANDBOX_ACCOUNT_NUMBER, SANDBOX_TOKEN

from .harness import (
    MAX_HANG_SECONDS,
    Request,
    Response,
    Simulator,
    json_response,
    post,
    serve_until_interrupted,
)
from .poster_control import control
from .poster_records import LISTS, OBJECTS, form_data, new_catalogue, sign
from .registry import SimulatorSpec, register_simulator


class PosterSimulator(Simulator):
    name = "poster"

    def __init__(
        self,
        *,
        app_id: str = "sandbox-app",
        app_secret: str = "",
        webhook_url: str = "",
        ingredients: int = 12,
        webhook_retries: int = 2,
        webhook_retry_delay: float = 1.0,
        **options: Any,
    ) -> None:
        self.app_id = app_id
        self.app_secret = app_secret or secrets.token_hex(16)
        self.webhook_url = webhook_url
        self.n_ingredients = ingredients
        self.webhook_retries = webhook_retries
        self.webhook_retry_delay = webhook_retry_delay
        super().__init__(**options)

    def reset_state(self) -> None:
        for event in getattr(self, "state", {}).get("held", []):
            event.set()  # nothing held stays held across a reset
        self.state = {
            "accounts": {
                SANDBOX_ACCOUNT: {
                    "number": SANDBOX_ACCOUNT_NUMBER,
                    "catalogue": new_catalogue(getattr(self, "n_ingredients", 12)),
                }
            },
            "tokens": {SANDBOX_TOKEN: SANDBOX_ACCOUNT},  # token → account
            "expired": set(),
            "codes": {},  # code → (account, redirect_uri)
            "rate_restriction_next": 0,
            "calls_per_second": 0.0,
            "calls": deque(maxlen=10_000),
            "deliveries": [],
            "methods": [],
            "hold_next": [],  # method names whose next call is held back
            "held": [],  # events the held calls wait on
        }

    def setup(self) -> None:
        self.route("GET", r"/api/auth")(self.auth_page)
        self.route("POST", r"/api/auth")(self.auth_approve)
        self.route("POST", r"/api/v2/auth/access_token")(self.access_token)
        self.route("GET", r"/api/(?P<method>[A-Za-z]+\.[A-Za-z]+)")(self.method)
        self.control_route(r"/_sandbox/poster/.*")(lambda request: control(self, request))

    def rate_limit_key(self, request: Request) -> str | None:
        return request.arg("token") or "anonymous"

    # --- API methods ------------------------------------------------------------------------------------
    @staticmethod
    def _error(code: int, message: str) -> Response:
        return json_response({"error": {"code": code, "message": message}})  # HTTP 200, as Poster does

    def method(self, request: Request) -> Response:
        """The answer is taken as the catalogue is when the call arrives; a held call sends it later."""
        name = request.params["method"]
        with self.lock:
            held: threading.Event | None = None
            if name in self.state["hold_next"]:
                self.state["hold_next"].remove(name)
                held = threading.Event()
                self.state["held"].append(held)
            response = self._method(name, request)
        if held is not None:
            held.wait(MAX_HANG_SECONDS)
        return response

    def hold_next_read(self, method: str) -> None:
        with self.lock:
            self.state["hold_next"].append(method)

    def held_reads(self) -> int:
        """Calls answered but held back now."""
        with self.lock:
            return sum(1 for event in self.state["held"] if not event.is_set())

    def release_reads(self) -> None:
        with self.lock:
            for event in self.state["held"]:
                event.set()
            self.state["held"] = []

    def _method(self, name: str, request: Request) -> Response:
        token = request.arg("token") or ""
        with self.lock:
            self.state["methods"].append(name)
            if not token:
                return self._error(10, "Access token is missing")
            if token in self.state["expired"]:
                return self._error(12, "Access token expired")
            account = self.state["tokens"].get(token)
            if account is None:
                return self._error(11, "Invalid access token")
            if self._restricted():
                return self._error(700, "Rate restriction: too many requests")
            catalogue = self.state["accounts"][account]["catalogue"]
            if name in LISTS:
                items = [dict(item) for item in catalogue[LISTS[name]].values()]
                return json_response({"response": items})
            if name == "menu.getIngredient":
                item = catalogue["ingredients"].get(request.arg("ingredient_id") or "")
                return json_response({"response": dict(item) if item else []})
            if name == "storage.getStorageLeftovers":
                return json_response(
                    {
                        "response": [
                            {
                                "ingredient_id": i["ingredient_id"],
                                "ingredient_name": i["ingredient_name"],
                                "ingredient_left": i["ingredient_left"],
                                "storage_ingredient_left": i["ingredient_left"],
                                "ingredient_unit": i["ingredient_unit"],
                            }
                            for i in catalogue["ingredients"].values()
                        ]
                    }
                )
        return self._error(20, f"Unknown method {name}")

    def _restricted(self) -> bool:
        """Error 700: forced by a knob, or over Poster's per-account call rate (held lock)."""
        if self.state["rate_restriction_next"] > 0:
            self.state["rate_restriction_next"] -= 1
            return True
        limit = self.state["calls_per_second"]
        now = time.monotonic()
        calls = self.state["calls"]
        if limit:
            while calls and now - calls[0] >= 1.0:
                calls.popleft()
            if len(calls) >= limit:
                return True
        calls.append(now)
        return False

    # --- OAuth ------------------------------------------------------------------------------------------
    def auth_page(self, request: Request) -> Response:
        app = request.arg("application_id") or ""
        redirect_uri = request.arg("redirect_uri") or ""
        if app != self.app_id or request.arg("response_type") != "code" or not redirect_uri:
            return Response(
                status=400,
                body="<h1>Bad application_id, redirect_uri or response_type</h1>",
                content_type="text/html; charset=utf-8",
            )
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Poster (sandbox)</title></head>
<body style="font-family:sans-serif;max-width:30rem;margin:2rem auto"><h1>Poster — sandbox</h1>
<p>Allow application <b>{html.escape(app)}</b> to read the account's catalogue?</p>
<form method="post"><input type="hidden" name="redirect_uri" value="{html.escape(redirect_uri)}">
<input type="hidden" name="state" value="{html.escape(request.arg("state") or "")}">
<label>Account <input name="account" value="{SANDBOX_ACCOUNT}"></label>
<button id="allow" name="decision" value="allow">Allow</button></form></body></html>"""
        return Response(status=200, body=page, content_type="text/html; charset=utf-8")

    def auth_approve(self, request: Request) -> Response:
        form = request.form()
        account = form.get("account") or SANDBOX_ACCOUNT
        redirect_uri = form.get("redirect_uri", "")
        code = secrets.token_hex(12)
        with self.lock:
            self.state["accounts"].setdefault(
                account,
                {
                    "number": str(100000 + len(self.state["accounts"]) + 1),
                    "catalogue": new_catalogue(self.n_ingredients),
                },
            )
            self.state["codes"][code] = (account, redirect_uri)
        query = {"code": code, "account": account}
        if form.get("state"):
            query["state"] = form["state"]
        sep = "&" if "?" in redirect_uri else "?"
        return Response(
            status=302,
            body=b"",
            headers={"Location": f"{redirect_uri}{sep}{urllib.parse.urlencode(query)}"},
            content_type="text/plain",
        )

    def access_token(self, request: Request) -> Response:
        fields = form_data(request)
        if fields is None:
            return json_response({"error": {"code": 400, "message": "send form data"}})
        with self.lock:
            grant = self.state["codes"].pop(fields.get("code", ""), None)
            if (
                fields.get("application_id") != self.app_id
                or fields.get("application_secret") != self.app_secret
                or fields.get("grant_type") != "authorization_code"
                or grant is None
                or grant[1] != fields.get("redirect_uri")
            ):
                return json_response({"error": {"code": 400, "message": "invalid application, secret or code"}})
            account = grant[0]
            number = self.state["accounts"][account]["number"]
            token = f"{number}:{secrets.token_hex(16)}"
            self.state["tokens"][token] = account
        return json_response(
            {
                "access_token": token,
                "account_number": number,
                "user": {"id": "1", "name": "Sandbox owner", "email": "owner@example.test"},
                "ownerInfo": {"email": "owner@example.test", "company_name": account},
                "tariff": {"key": "business", "next_pay_date": "2028-01-01"},
            }
        )

    def add_account(self, account: str) -> str:
        """Another Poster account with its own catalogue; returns a token for it."""
        with self.lock:
            number = str(100001 + len(self.state["accounts"]))
            self.state["accounts"].setdefault(
                account, {"number": number, "catalogue": new_catalogue(self.n_ingredients)}
            )
            token = f"{self.state['accounts'][account]['number']}:{secrets.token_hex(16)}"
            self.state["tokens"][token] = account
        return token

    # --- knobs and changes -----------------------------------------------------------------------------
    def expire_tokens(self) -> None:
        with self.lock:
            self.state["expired"].update(self.state["tokens"])

    def restrict_next(self, n: int) -> None:
        with self.lock:
            self.state["rate_restriction_next"] = n

    def catalogue(self, account: str = SANDBOX_ACCOUNT) -> dict[str, dict[str, dict[str, str]]]:
        return self.state["accounts"][account]["catalogue"]

    def change(
        self,
        object: str,
        object_id: int | str,
        *,
        action: str = "changed",
        fields: dict[str, Any] | None = None,
        account: str = SANDBOX_ACCOUNT,
        data: Any = None,
        forged: bool = False,
        form: bool = False,
        send: bool = True,
        sync: bool = True,
    ) -> dict[str, Any]:
        """Apply a change to the catalogue, then send Poster's webhook (synchronously by default)."""
        entity, id_key = OBJECTS.get(object, ("", ""))
        oid = str(object_id)
        with self.lock:
            if entity:
                items = self.catalogue(account)[entity]
                if action == "removed":
                    items.pop(oid, None)
                else:
                    item = items.setdefault(
                        oid, {id_key: oid, **({"delete": "0"} if "delete" in next(iter(items.values()), {}) else {})}
                    )
                    item.update({k: str(v) for k, v in (fields or {}).items()})
            number = self.state["accounts"][account]["number"]
        body = self.webhook_body(
            account=account,
            account_number=number,
            object=object,
            object_id=oid,
            action=action,
            data=data,
            forged=forged,
        )
        if send and object != "supplier":  # Poster has no supplier webhook
            if sync:
                self.deliver(body, form=form)
            else:
                threading.Thread(target=self.deliver, args=(body,), kwargs={"form": form}, daemon=True).start()
        return body

    def webhook_body(
        self,
        *,
        account: str,
        account_number: str,
        object: str,
        object_id: str,
        action: str,
        data: Any = None,
        forged: bool = False,
        at: int | None = None,
    ) -> dict[str, Any]:
        stamp = str(at if at is not None else int(time.time()))
        data_str = None if data is None else (data if isinstance(data, str) else json.dumps(data, ensure_ascii=False))
        secret = secrets.token_hex(16) if forged else self.app_secret
        body: dict[str, Any] = {
            "account": account,
            "account_number": account_number,
            "object": object,
            "object_id": int(object_id) if object_id.isdigit() else object_id,
            "action": action,
            "time": stamp,
            "verify": sign(
                account=account,
                object=object,
                object_id=object_id,
                action=action,
                time=stamp,
                secret=secret,
                data=data_str,
            ),
        }
        if data_str is not None:
            body["data"] = data_str
        return body

    def deliver(self, body: dict[str, Any], *, form: bool = False, url: str | None = None) -> int:
        """POST one delivery; like Poster, redeliver (a few times here) until the answer is 200."""
        status = 0
        for attempt in range(self.webhook_retries + 1):
            status = self.send(body, form=form, url=url)
            with self.lock:
                self.state["deliveries"].append({"body": body, "status": status, "attempt": attempt + 1})
            if status == 200:
                break
            time.sleep(self.webhook_retry_delay)
        return status

    def send(self, body: dict[str, Any], *, form: bool = False, url: str | None = None) -> int:
        target = url or self.webhook_url
        if not target:
            return 0
        if form:
            payload = urllib.parse.urlencode({k: str(v) for k, v in body.items()}).encode()
            content_type = "application/x-www-form-urlencoded"
        else:
            payload = json.dumps(body, ensure_ascii=False).encode()
            content_type = "application/json"
        return post(target, payload, content_type)


def _factory() -> PosterSimulator:
    from django.conf import settings

    return PosterSimulator(
        app_id=settings.POSTER_APP_ID or "sandbox-app",
        app_secret=settings.POSTER_APP_SECRET,
        webhook_url=settings.PUBLIC_BASE_URL.rstrip("/") + "/webhooks/poster/",
    )


register_simulator(
    SimulatorSpec(
        name="poster",
        factory=_factory,
        port_offset=20,
        settings={"POSTER_API_URL": "/api", "POSTER_ACCOUNT_API_URL": "/api"},
    )
)


def _sandbox_secret() -> str:
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    os.environ.setdefault("SANDBOX", "1")
    django.setup()
    from django.conf import settings

    return str(settings.POSTER_APP_SECRET)


def main() -> None:  # pragma: no cover - the PERF-6 benchmark runs the simulator in its own process
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--ingredients", type=int, default=12)
    args = parser.parse_args()
    # From the environment, never the command line; unset: the sandbox secret every process of a
    # SANDBOX=1 run derives from SECRET_KEY (config/settings/base.py), so the web process verifies it.
    secret = os.environ.get("POSTER_APP_SECRET") or _sandbox_secret()
    sim = PosterSimulator(app_secret=secret, ingredients=args.ingredients)
    sim.faults.latency_ms = args.latency_ms
    serve_until_interrupted(sim, port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()
