"""eMAG Marketplace API simulator (API_CONTRACTS.md "eMAG"; SPEC MKT-2 … MKT-4, PLAT-12).

Speaks the real wire format: ``POST /{resource}/{action}`` with Basic auth and a JSON body, the
``isError``/``messages``/``results`` envelope (errors on HTTP 200 too), paging from ``currentPage``
1 with ``itemsPerPage`` ≤ 100, date filters ``YYYY-mm-dd HH:ii:ss`` with a span ≤ 1 month, ``save``
arrays ≤ 50. Enforces eMAG's limits per API user: order routes 12 req/s, all other routes together
3 req/s — over them a 429 (invalid requests count too), each one counted as a violation — and
sends ``X-RateLimit-Limit-3second``/``X-RateLimit-Remaining-3second``. Sends new-order callbacks
(``GET <callback url>?order_id=N``) until an order is acknowledged, and can edit or cancel orders
before they are acknowledged, as real customers and eMAG do.

Control (besides the harness's): ``POST /_sandbox/emag`` with ``{"new_orders": n}``,
``{"callback_url": "..."}``, ``{"edit": id}``, ``{"cancel": id, "reason": code}``, ``{"send_callbacks": true}``,
``{"internal_error_next": n}`` (the next n API requests answer HTTP 200 with ``isError: true`` and
"Internal error, please retry", as eMAG does when it fails inside; the harness's ``html_next`` fault
answers 200 with a gateway's HTML page).
"""

from __future__ import annotations

import base64
import logging
import math
import random
import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

from marketplaces.emag.demo_account import SANDBOX_PASSWORD, SANDBOX_USER

from .emag_records import (
    DATE_FORMAT,
    as_int,
    emag_now,
    offer_record,
    order_lines,
    order_record,
    orders_matching,
    page_and_size,
)
from .harness import Request, Response, Simulator, json_body, json_response, max_in_window, serve_until_interrupted
from .registry import SimulatorSpec, register_simulator

log = logging.getLogger("sandbox.emag")

ORDER_RATE, OTHER_RATE = 12, 3


def _envelope(results: Any = None, *, error: str | None = None, status: int = 200, **headers: str) -> Response:
    body = {
        "isError": error is not None,
        "messages": [error] if error else [],
        "results": results if results is not None else [],
    }
    return json_response(body, status, **headers)


class EmagSimulator(Simulator):
    name = "emag"

    def __init__(
        self,
        *,
        users: dict[str, str] | None = None,
        orders: int = 0,
        offers: int = 0,
        seed: int = 7,
        enforce_limits: bool = True,
        **options: Any,
    ) -> None:
        self.users = users or {SANDBOX_USER: SANDBOX_PASSWORD}
        self.seed = seed
        self.enforce_limits = enforce_limits
        self._initial_orders = orders
        self._initial_offers = offers
        super().__init__(**options)

    # --- state ----------------------------------------------------------------------------------------
    def reset_state(self) -> None:
        self.rng = random.Random(getattr(self, "seed", 7))
        self.state = {
            "orders": {},  # id -> order dict (as eMAG sends it)
            "offers": {},  # id -> offer dict
            "callback_url": "",
            "callbacks_sent": 0,
            "acknowledged": set(),
            "next_order_id": 500_000_001,
            "next_line_id": 9_000_001,
        }
        self.violations = 0
        self.internal_error_next = 0
        self._accepted: dict[tuple[str, str], dict[tuple[str, int], int]] = {}
        self.arrivals: dict[str, list[float]] = {"orders": [], "other": []}
        for _ in range(getattr(self, "_initial_orders", 0)):
            self.add_order()
        for k in range(getattr(self, "_initial_offers", 0)):
            self.add_offer(k)

    def setup(self) -> None:
        self.route("POST", r"/order/read")(self.order_read)
        self.route("POST", r"/order/count")(self.order_count)
        self.route("POST", r"/order/save")(self.order_save)
        self.route("POST", r"/order/acknowledge/(?P<id>\d+)")(self.order_acknowledge)
        self.route("POST", r"/product_offer/read")(self.offer_read)
        self.route("POST", r"/(?:product_offer|offer)/save")(self.offer_save)
        self.control_route(r"/_sandbox/emag")(self.control)

    now = staticmethod(emag_now)

    def add_order(
        self, *, status: int = 1, created: datetime | None = None, send_callback: bool = False, **fields: Any
    ) -> dict[str, Any]:
        with self.lock:
            order_id = self.state["next_order_id"]
            self.state["next_order_id"] += 1
            created = created or self.now()
            lines = order_lines(order_id, self.state["next_line_id"], created, self.rng)
            self.state["next_line_id"] += len(lines)
            order = order_record(order_id, status=status, created=created, lines=lines, **fields)
            self.state["orders"][order_id] = order
        if send_callback:
            self.send_callback(order_id)
        return order

    def add_offer(self, k: int) -> dict[str, Any]:
        offer = offer_record(k)
        with self.lock:
            self.state["offers"][offer["id"]] = offer
        return offer

    def edit_order(self, order_id: int, **changes: Any) -> dict[str, Any]:
        """The customer or eMAG changed the order (e.g. a quantity); ``modified`` moves."""
        with self.lock:
            order = self.state["orders"][order_id]
            if not changes:
                line = order["products"][0]
                line["quantity"] = max(1, line["quantity"] - 1) if line["quantity"] > 1 else 2
                line["modified"] = self.now().strftime(DATE_FORMAT)
            order.update(changes)
            order["modified"] = self.now().strftime(DATE_FORMAT)
            return order

    def cancel_order(self, order_id: int, reason: int = 2) -> dict[str, Any]:
        with self.lock:
            order = self.state["orders"][order_id]
            order.update(status=0, cancellation_reason=reason, modified=self.now().strftime(DATE_FORMAT))
            return order

    def send_callback(self, order_id: int) -> int | None:
        """``GET <callback url>?order_id=N`` as eMAG does; returns the HTTP status (None: not sent)."""
        url = self.state.get("callback_url")
        if not url:
            return None
        separator = "&" if "?" in url else "?"
        try:
            with urlopen(f"{url}{separator}{urlencode({'order_id': order_id})}", timeout=10) as response:
                status = int(response.status)
        except Exception as exc:  # an error page or a refused connection: eMAG retries later
            status = int(getattr(exc, "code", 0) or 0)
        with self.lock:
            self.state["callbacks_sent"] += 1
        return status

    def send_callbacks(self) -> dict[int, int | None]:
        """eMAG repeats the callback of every new order not yet acknowledged."""
        with self.lock:
            pending = [
                oid
                for oid, o in self.state["orders"].items()
                if o["status"] == 1 and oid not in self.state["acknowledged"]
            ]
        return {oid: self.send_callback(oid) for oid in pending}

    def activity_step(self) -> dict[str, Any]:
        """One tick of a live shop: a new order arrives; sometimes a customer edits or cancels an order
        not yet acknowledged; callbacks are repeated for every new order not yet acknowledged."""
        with self.lock:
            pending = [
                oid
                for oid, o in self.state["orders"].items()
                if o["status"] == 1 and oid not in self.state["acknowledged"]
            ]
        roll = self.rng.random()
        if pending and roll < 0.15:
            self.cancel_order(self.rng.choice(pending), reason=self.rng.choice([2, 23, 24, 38]))
        elif pending and roll < 0.35:
            self.edit_order(self.rng.choice(pending))
        order = self.add_order()
        return {"new": order["id"], "callbacks": self.send_callbacks()}

    def start_activity(self, every_seconds: float) -> threading.Event:
        """Run ``activity_step`` every ``every_seconds`` in a daemon thread until the event is set."""
        stop = threading.Event()

        def run() -> None:
            while not stop.wait(every_seconds):
                try:
                    self.activity_step()
                except Exception:  # a sandbox must keep running for the person clicking around
                    log.exception("emag sandbox activity failed")

        threading.Thread(target=run, name="emag-sandbox-activity", daemon=True).start()
        return stop

    # --- limits -----------------------------------------------------------------------------------------
    def rate_limit_key(self, request: Request) -> str | None:
        return None  # eMAG's own limits are applied in handle(), per user and route class

    def _bucket(self, request: Request) -> str:
        return "orders" if request.path.strip("/").split("/", 1)[0] == "order" else "other"

    def handle(self, request: Request) -> Response:
        if request.path.startswith("/_sandbox/"):
            return super().handle(request)
        bucket = self._bucket(request)
        limit = ORDER_RATE if bucket == "orders" else OTHER_RATE
        user = self._user(request) or "anonymous"
        now = request.arrived_wall()  # the kernel's receive time: a stall here cannot move it
        second, three = int(now), int(now // 3)
        with self.lock:
            self.arrivals[bucket].append(now)
            # eMAG counts requests per second (12/s = 720/min) and reports a 3-second budget.
            counts = self._accepted.setdefault((user, bucket), {})
            over = self.enforce_limits and counts.get(("s", second), 0) >= limit
            if over:
                self.violations += 1
            else:
                counts[("s", second)] = counts.get(("s", second), 0) + 1
                counts[("3s", three)] = counts.get(("3s", three), 0) + 1
            stale = [k for k in counts if k[1] < (second - 5 if k[0] == "s" else three - 2)]
            for key in stale:
                del counts[key]
            remaining = max(0, 3 * limit - counts.get(("3s", three), 0))
        headers = {"X-RateLimit-Limit-3second": str(3 * limit), "X-RateLimit-Remaining-3second": str(remaining)}
        if over:
            return _envelope(error="Too many requests: the rate limit was exceeded", status=429, **headers)
        if self._user(request) is None:
            return _envelope(error="Invalid username or password, or this IP is not whitelisted", status=401, **headers)
        with self.lock:
            internal = self.internal_error_next > 0
            if internal:
                self.internal_error_next -= 1
        if internal:
            return _envelope(error="Internal error, please retry", status=200, **headers)
        response = super().handle(request)
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        return response

    def _user(self, request: Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return None
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (ValueError, UnicodeDecodeError):
            return None
        return user if self.users.get(user) == password else None

    # --- routes ---------------------------------------------------------------------------------------------
    def _filtered_orders(self, body: dict[str, Any]) -> list[dict[str, Any]] | str:
        with self.lock:
            orders = [dict(o) for o in self.state["orders"].values()]
        return orders_matching(orders, body, now=self.now)

    def order_read(self, request: Request) -> Response:
        body = request.json_value()
        if not isinstance(body, dict):
            return _envelope(error="The request body must be a JSON object")
        paging = page_and_size(body)
        if isinstance(paging, str):
            return _envelope(error=paging)
        orders = self._filtered_orders(body)
        if isinstance(orders, str):
            return _envelope(error=orders)
        page, size = paging
        return _envelope(orders[(page - 1) * size : page * size])

    def order_count(self, request: Request) -> Response:
        body = request.json_value()
        orders = self._filtered_orders(body if isinstance(body, dict) else {})
        if isinstance(orders, str):
            return _envelope(error=orders)
        size = int(body.get("itemsPerPage", 100)) if isinstance(body, dict) else 100
        return _envelope({"noOfItems": len(orders), "noOfPages": math.ceil(len(orders) / max(1, size))})

    def order_save(self, request: Request) -> Response:
        body = request.json_value()
        if not isinstance(body, list) or not body:
            return _envelope(error="order/save expects a non-empty JSON array")
        if len(body) > 50:
            return _envelope(error="At most 50 entities per save")
        errors = []
        for entity in body:
            if not isinstance(entity, dict) or as_int(entity.get("id")) not in self.state["orders"]:
                errors.append(f"Order {entity.get('id') if isinstance(entity, dict) else entity!r} does not exist")
            elif entity.get("status") == 0 and not entity.get("cancellation_reason"):
                errors.append(f"Order {entity['id']}: a cancellation needs cancellation_reason")
            elif not isinstance(entity.get("products"), list):
                errors.append(f"Order {entity['id']}: send the whole order, products included")
        if errors:
            return _envelope(error="; ".join(errors))
        with self.lock:
            for entity in body:
                order = self.state["orders"][as_int(entity["id"])]
                order.update({k: v for k, v in entity.items() if k != "id"})
                order["modified"] = self.now().strftime(DATE_FORMAT)
        return _envelope([])

    def order_acknowledge(self, request: Request) -> Response:
        order_id = int(request.params["id"])
        with self.lock:
            order = self.state["orders"].get(order_id)
            if order is None:
                return _envelope(error=f"Order {order_id} does not exist")
            self.state["acknowledged"].add(order_id)
            if order["status"] == 1:
                order["status"] = 2
                order["modified"] = self.now().strftime(DATE_FORMAT)
        return _envelope([])

    def offer_read(self, request: Request) -> Response:
        body = request.json_value()
        paging = page_and_size(body if isinstance(body, dict) else {})
        if isinstance(paging, str):
            return _envelope(error=paging)
        page, size = paging
        with self.lock:
            offers = sorted(self.state["offers"].values(), key=lambda o: o["id"])
        return _envelope(offers[(page - 1) * size : page * size])

    def offer_save(self, request: Request) -> Response:
        body = request.json_value()
        if not isinstance(body, list) or not body:
            return _envelope(error="offer/save expects a non-empty JSON array")
        if len(body) > 50:
            return _envelope(error="At most 50 entities per save")
        with self.lock:
            for entity in body:
                offer = self.state["offers"].get(as_int(entity.get("id")) if isinstance(entity, dict) else None)
                if offer is None:
                    return _envelope(error=f"Offer {entity!r} does not exist")
                price = float(entity.get("sale_price", offer["sale_price"]))
                if not float(offer["min_sale_price"]) <= price <= float(offer["max_sale_price"]):
                    return _envelope(error=f"Offer {offer['id']}: sale_price outside min_sale_price..max_sale_price")
            for entity in body:
                self.state["offers"][as_int(entity["id"])].update({k: v for k, v in entity.items() if k != "id"})
        return _envelope([])

    # --- control and statistics ------------------------------------------------------------------------------
    def control(self, request: Request) -> Response:
        body = json_body(request)
        created = []
        if body.get("callback_url") is not None:
            with self.lock:
                self.state["callback_url"] = str(body["callback_url"])
        for _ in range(int(body.get("new_orders", 0))):
            created.append(self.add_order()["id"])
        if body.get("edit"):
            self.edit_order(int(body["edit"]))
        if body.get("cancel"):
            self.cancel_order(int(body["cancel"]), int(body.get("reason", 2)))
        if body.get("internal_error_next") is not None:
            with self.lock:
                self.internal_error_next = int(body["internal_error_next"])
        if body.get("send_callbacks"):
            threading.Thread(target=self.send_callbacks, daemon=True).start()
        return json_response({"ok": True, "created": created, **self.stats()})

    def requests_received(self) -> int:
        """Every API request that arrived (rejected, unauthenticated and invalid ones included)."""
        with self.lock:
            return sum(len(times) for times in self.arrivals.values())

    def windows_over_limit(self, bucket: str) -> int:
        """Clock seconds in which more requests arrived than the limit (rejected ones included)."""
        limit = ORDER_RATE if bucket == "orders" else OTHER_RATE
        with self.lock:
            times = sorted(self.arrivals[bucket])
        counts: dict[int, int] = {}
        for t in times:
            counts[int(t)] = counts.get(int(t), 0) + 1
        return sum(1 for n in counts.values() if n > limit)

    def per_clock_second(self, bucket: str, last: int = 600) -> dict[int, int]:
        """Requests that arrived in each of the last ``last`` clock seconds (rejected ones included)."""
        with self.lock:
            times = sorted(self.arrivals[bucket])
        counts: dict[int, int] = {}
        for t in times:
            counts[int(t)] = counts.get(int(t), 0) + 1
        return dict(sorted(counts.items())[-last:])

    def max_in_window(self, bucket: str, window: float = 1.0) -> int:
        with self.lock:
            times = list(self.arrivals[bucket])
        return max_in_window(times, window)

    def stats(self) -> dict[str, Any]:
        with self.lock:
            orders_times = sorted(self.arrivals["orders"])
            other_count = len(self.arrivals["other"])
        span = (orders_times[-1] - orders_times[0]) if len(orders_times) > 1 else 0.0
        return {
            **super().stats(),
            "violations": self.violations,
            "callbacks_sent": self.state["callbacks_sent"],
            "orders_requests": len(orders_times),
            "other_requests": other_count,
            "orders_max_per_second": self.max_in_window("orders"),
            "other_max_per_second": self.max_in_window("other"),
            "orders_windows_over_limit": self.windows_over_limit("orders"),
            "other_windows_over_limit": self.windows_over_limit("other"),
            "orders_span_seconds": span,
            "orders_per_second": self.per_clock_second("orders"),
            "other_per_second": self.per_clock_second("other"),
            "orders_count": len(self.state["orders"]),
        }


def _sandbox_factory(*, activity: bool = True) -> EmagSimulator:
    # `make run`: a shop with some orders of the last days, a few offers, eMAG's real limits.
    sim = EmagSimulator(offers=8)
    now = sim.now()
    for k in range(12):
        order = sim.add_order(status=[1, 2, 3, 4][k % 4], created=now - timedelta(days=k % 9, hours=k))
        if k == 5:
            sim.cancel_order(order["id"], reason=2)
        if k == 7:
            sim.cancel_order(order["id"], reason=42)  # a reason newer than our table: "unknown (42)"
    # A live shop: a new order every ~2 minutes (not on round clock times), customers editing or
    # cancelling before acknowledgement, callbacks repeated once `POST /_sandbox/emag {"callback_url"}`.
    if activity:
        sim.start_activity(127.0)
    return sim


register_simulator(
    SimulatorSpec(
        name="emag",
        factory=_sandbox_factory,
        port_offset=21,
        settings={"EMAG_API_URL": "", "EMAG_BG_API_URL": "", "EMAG_HU_API_URL": ""},
    )
)


def main() -> None:  # pragma: no cover - the benchmark runs the simulator in its own process
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve_until_interrupted(EmagSimulator(orders=args.orders), port=args.port)


if __name__ == "__main__":  # pragma: no cover
    main()
