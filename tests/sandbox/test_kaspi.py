"""The Kaspi simulator keeps Kaspi's rules (API_CONTRACTS.md): what a client must send, what it refuses."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import requests

from sandbox.kaspi import SANDBOX_MERCHANT_UID, SANDBOX_SHOP_TOKEN, KaspiSimulator

JSON_API = {"X-Auth-Token": SANDBOX_SHOP_TOKEN, "Content-Type": "application/vnd.api+json"}


def _cookie(sim: KaspiSimulator) -> str:
    return "; ".join(f"{k}={v}" for k, v in sim.open_session().items())


def test_cabinet_wants_the_auth_version_header_and_a_live_session(sandbox: Callable[..., Any]) -> None:
    sim = KaspiSimulator()
    url = sandbox(sim).url
    cookie = _cookie(sim)
    assert requests.get(f"{url}/s/m", headers={"Cookie": cookie}, timeout=5).status_code == 400
    ok = requests.get(f"{url}/s/m", headers={"Cookie": cookie, "x-auth-version": "3"}, timeout=5)
    assert ok.json() == {"merchants": [{"uid": SANDBOX_MERCHANT_UID, "name": "Sandbox Store"}]}
    assert requests.get(f"{url}/s/m", headers={"x-auth-version": "3"}, timeout=5).status_code == 401
    sim.session_ttl_seconds = 0.2  # the expiry knob
    time.sleep(0.3)
    assert requests.get(f"{url}/s/m", headers={"Cookie": cookie, "x-auth-version": "3"}, timeout=5).status_code == 401


def test_shop_api_refuses_windows_over_14_days_and_pages_over_100(sandbox: Callable[..., Any]) -> None:
    sim = KaspiSimulator()
    url = sandbox(sim).url
    day = 86_400_000
    now = int(time.time() * 1000)

    def orders(**params: Any) -> requests.Response:
        return requests.get(f"{url}/shop/api/v2/orders", headers=JSON_API, timeout=5, params=params)

    base = {"filter[orders][creationDate][$le]": now, "page[number]": 0}
    assert orders(**base, **{"filter[orders][creationDate][$ge]": now - 15 * day, "page[size]": 10}).status_code == 400
    assert orders(**base, **{"filter[orders][creationDate][$ge]": now - 7 * day, "page[size]": 500}).status_code == 400
    fine = orders(**base, **{"filter[orders][creationDate][$ge]": now - 14 * day, "page[size]": 5})
    assert fine.status_code == 200 and fine.headers["Content-Type"] == "application/vnd.api+json"
    assert fine.json()["meta"]["pageCount"] >= 1 and len(fine.json()["data"]) == 5
    assert requests.get(f"{url}/shop/api/v2/orders", timeout=5).status_code == 401


def test_accept_needs_the_orders_code(sandbox: Callable[..., Any]) -> None:
    sim = KaspiSimulator()
    url = sandbox(sim).url
    order = next(o for o in sim.state["orders"][SANDBOX_MERCHANT_UID] if o["attributes"]["state"] == "NEW")

    def accept(code: str) -> requests.Response:
        body = {
            "data": {
                "type": "orders",
                "id": order["id"],
                "attributes": {"code": code, "status": "ACCEPTED_BY_MERCHANT"},
            }
        }
        return requests.post(f"{url}/shop/api/v2/orders", headers=JSON_API, json=body, timeout=5)

    assert accept("wrong").status_code == 400
    assert accept(order["attributes"]["code"]).json()["data"]["attributes"]["status"] == "ACCEPTED_BY_MERCHANT"
    assert accept(order["attributes"]["code"]).status_code == 200 and sim.state["accepted"] == 1
