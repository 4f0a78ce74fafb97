"""A Kaspi marketplace that moves: competitors over time, price uploads with Kaspi's bans (SPEC REP-3/4).

``KaspiMarketSimulator`` is the Kaspi simulator of ``sandbox/kaspi.py`` plus:
  POST /yml/offer-view/offers/{productId}  every offer of the card (competitors and the merchants' own
                     offers at their uploaded prices), cheapest first, pages of ≤ 64. Too many requests
                     from one IP (``offers_rate_per_ip`` in any second) → that IP gets 403 for
                     ``ip_ban_seconds`` (Kaspi: ~15/s → 403 for ~10 s).
  POST /pricefeed/upload/merchant/process  the cabinet price upload (cookies, ``x-auth-version: 3``); more
                     than ``upload_rate_per_merchant`` in any second → 429 and the merchant is banned for
                     ``merchant_ban_seconds`` (Kaspi: ~30 minutes; every call during it is 429 too).
Competitors react over time: every ``react_seconds`` (or on ``POST /_sandbox/kaspi-market {"tick": n}``)
each may raise, lower or leave (and come back); ``fighters`` undercut the lowest own offer they see.
Latency: the harness knob (``POST /_sandbox/faults {"latency_ms": 50}``). Knobs, counters and the
recorded overlaps (one card fetched by two clients at once) are at ``/_sandbox/kaspi-market``.
"""

from __future__ import annotations

import random
import re
import time
from collections import Counter, deque
from dataclasses import replace
from typing import Any
from urllib.parse import urlsplit

from .harness import Request, Response, json_body, json_response
from .kaspi import SANDBOX_MERCHANT_UID, KaspiSimulator
from .registry import register_simulator, simulator_spec

DELIVERY = ["TODAY", "TOMORROW", "TWO_DAYS", "THREE_DAYS", "FIVE_DAYS"]
_CARD = re.compile(r"-(\d+)/?$")


def card_of_offer(offer: dict[str, Any]) -> str:
    """The card id at the end of a cabinet offer's ``shopLink`` path ("" when absent)."""
    match = _CARD.search(urlsplit(str(offer.get("shopLink") or "")).path)
    return match.group(1) if match else ""


KNOBS = {
    "competitors": int,
    "react_seconds": float,
    "move_probability": float,
    "leave_probability": float,
    "fighters": int,
    "offers_rate_per_ip": float,
    "ip_ban_seconds": float,
    "upload_rate_per_merchant": float,
    "merchant_ban_seconds": float,
}


class KaspiMarketSimulator(KaspiSimulator):
    name = "kaspi"

    def __init__(
        self,
        *,
        competitors: int = 70,
        react_seconds: float = 0.0,
        move_probability: float = 0.3,
        leave_probability: float = 0.03,
        fighters: int = 0,
        offers_rate_per_ip: float = 0.0,
        ip_ban_seconds: float = 10.0,
        upload_rate_per_merchant: float = 2.0,
        merchant_ban_seconds: float = 1800.0,
        market_seed: int = 11,
        **options: Any,
    ) -> None:
        self.competitors = competitors
        self.react_seconds = react_seconds
        self.move_probability = move_probability
        self.leave_probability = leave_probability
        self.fighters = fighters
        self.offers_rate_per_ip = offers_rate_per_ip
        self.ip_ban_seconds = ip_ban_seconds
        self.upload_rate_per_merchant = upload_rate_per_merchant
        self.merchant_ban_seconds = merchant_ban_seconds
        self.market_seed = market_seed
        super().__init__(**options)

    # --- state --------------------------------------------------------------------------------------
    def reset_state(self) -> None:
        super().reset_state()
        self.rng = random.Random(self.market_seed)
        self.state.update(
            {
                "cards": {},  # card id -> list of competitor offers
                "own": {},  # card id -> {(uid, sku)}
                "own_prices": {},  # (uid, sku) -> price
                "skus": {},  # (uid, sku) -> card id
                "ip_times": {},  # ip -> deque of request instants
                "ip_bans": {},  # ip -> banned until (monotonic)
                "upload_times": {},  # uid -> deque
                "merchant_bans": {},  # uid -> banned until
                "counters": Counter(),
                "uploads": [],  # (uid, sku, price)
                "inflight": Counter(),  # card -> requests in progress
                "fetches": Counter(),  # card -> requests served
                "failing_cards": set(),
                "last_tick": time.monotonic(),
                "listed": {},  # (uid, sku) -> the cabinet offer-list entry
            }
        )
        for uid, offers in self.state["offers"].items():
            for offer in offers:
                card = card_of_offer(offer)
                self.state["listed"][(uid, offer["sku"])] = offer
                if card:
                    self._link(uid, offer["sku"], card, offer.get("minPrice"))

    def _link(self, uid: str, sku: str, card: str, price: Any = None) -> None:
        self.state["own"].setdefault(card, set()).add((uid, sku))
        self.state["skus"][(uid, sku)] = card
        if price is not None:
            self.state["own_prices"][(uid, sku)] = int(price)

    def link(self, *, uid: str, sku: str, card: str, price: int) -> None:
        """Make ``sku`` of merchant ``uid`` an offer on ``card`` at ``price`` (tests and the demo)."""
        with self.lock:
            self._link(uid, sku, card, price)

    def _competitors(self, card: str) -> list[dict[str, Any]]:
        cards = self.state["cards"]
        if card not in cards:
            seed = int(card) if card.isdigit() else abs(hash(card))
            rng = random.Random(seed)
            base = 5000 + seed % 300_000
            cards[card] = [
                {
                    "merchantId": f"C{seed % 9973:04d}{k:03d}",
                    "merchantName": f"Конкурент {k}",
                    "merchantSku": f"C-{card}-{k}",
                    "price": base + k * 150 + rng.randint(0, 140),
                    "merchantRating": round(3.5 + rng.random() * 1.5, 1),
                    "deliveryDuration": DELIVERY[k % len(DELIVERY)],
                    "active": True,
                    "fighter": k < self.fighters,
                    "floor": max(10, int((base + k * 150) * 0.7)),
                }
                for k in range(self.competitors)
            ]
        return cards[card]

    def set_competitors(self, card: str, offers: list[dict[str, Any]]) -> None:
        """Replace a card's competitors (tests): ``[{"merchantId", "price", "deliveryDuration"?}]``."""
        with self.lock:
            self.state["cards"][card] = [
                {"merchantName": o["merchantId"], "merchantSku": f"C-{card}-{i}", "merchantRating": 4.5,
                 "deliveryDuration": "TOMORROW", "active": True, "fighter": False, "floor": 10, **o}
                for i, o in enumerate(offers)
            ]  # fmt: skip

    def competitor_offers(self, card: str) -> list[dict[str, Any]]:
        with self.lock:
            return [dict(o) for o in self._competitors(card) if o["active"]]

    def own_price(self, uid: str, sku: str) -> int | None:
        with self.lock:
            return self.state["own_prices"].get((uid, sku))

    # --- movement -------------------------------------------------------------------------------------
    def tick(self, rounds: int = 1) -> None:
        """One move of every card's competitors: raise, lower, leave, come back; fighters undercut."""
        with self.lock:
            for _ in range(rounds):
                for card, offers in self.state["cards"].items():
                    own = [self.state["own_prices"].get(key) for key in self.state["own"].get(card, ())]
                    lowest_own = min((p for p in own if p), default=None)
                    for offer in offers:
                        roll = self.rng.random()
                        if offer["fighter"] and lowest_own is not None and offer["active"]:
                            if lowest_own <= offer["price"]:
                                offer["price"] = max(offer["floor"], lowest_own - 1)
                            continue
                        if roll < self.leave_probability:
                            offer["active"] = not offer["active"]
                        elif roll < self.leave_probability + self.move_probability:
                            factor = 1 + self.rng.choice([-1, 1]) * self.rng.uniform(0.005, 0.05)
                            offer["price"] = max(10, round(offer["price"] * factor))
            self.state["last_tick"] = time.monotonic()

    def _maybe_react(self) -> None:
        if self.react_seconds > 0:
            with self.lock:
                due = time.monotonic() - self.state["last_tick"] >= self.react_seconds
            if due:
                self.tick()

    # --- routes -------------------------------------------------------------------------------------------
    def setup(self) -> None:
        self.route("POST", r"/yml/offer-view/offers/(?P<product>\d+)")(self.market_offers)
        self.route("POST", r"/pricefeed/upload/merchant/process")(self.price_upload)
        self.control_route(r"/_sandbox/kaspi-market")(self.market_control)
        super().setup()

    def _window_over(self, times: deque[float], now: float, limit: float) -> bool:
        while times and now - times[0] >= 1.0:
            times.popleft()
        # Arrival times come from the kernel and reach this lock in any order: keep the window sorted.
        position = len(times)
        while position and times[position - 1] > now:
            position -= 1
        times.insert(position, now)
        return len(times) > limit

    def market_offers(self, request: Request) -> Response:
        if not (request.headers.get("Referer", "") + request.headers.get("Origin", "")).startswith("https://kaspi.kz"):
            return json_response({"error": "Forbidden"}, 403)
        try:
            body = request.json() or {}
            limit = min(64, max(1, int(body.get("limit", 64))))
            page = max(0, int(body.get("page", 0)))
            str(body["cityId"])
        except (ValueError, TypeError, KeyError):
            return json_response({"error": "bad request"}, 400)
        card = request.params["product"]
        ip = request.remote_addr
        now = request.arrived_monotonic()  # the kernel's receive time: a stall here cannot move it
        with self.lock:
            if self.state["ip_bans"].get(ip, 0) > now:
                self.state["counters"]["offers_403"] += 1
                return json_response({"error": "Forbidden"}, 403)
            if self.offers_rate_per_ip and self._window_over(
                self.state["ip_times"].setdefault(ip, deque()), now, self.offers_rate_per_ip
            ):
                self.state["ip_bans"][ip] = now + self.ip_ban_seconds
                self.state["counters"]["offers_403"] += 1
                self.state["counters"]["ip_bans"] += 1
                return json_response({"error": "Forbidden"}, 403)
            self.state["counters"]["offers"] += 1
            self.state["counters"][f"offers_ip:{ip}"] += 1
            if card in self.state["failing_cards"]:
                return json_response({"error": "internal error"}, 500)
            if self.state["inflight"][card]:
                self.state["counters"]["overlaps"] += 1
            self.state["inflight"][card] += 1
            self.state["fetches"][card] += 1
        try:
            self._maybe_react()
            with self.lock:
                offers = [
                    {k: v for k, v in o.items() if k not in ("active", "fighter", "floor")}
                    for o in self._competitors(card)
                    if o["active"]
                ]
                for uid, sku in self.state["own"].get(card, ()):
                    price = self.state["own_prices"].get((uid, sku))
                    if price is not None:
                        offers.append(
                            {"merchantId": uid, "merchantName": f"Магазин {uid}", "merchantSku": sku, "price": price,
                             "merchantRating": 5.0, "deliveryDuration": "TOMORROW"}
                        )  # fmt: skip
            offers.sort(key=lambda o: (o["price"], o["merchantId"]))
            return json_response({"offers": offers[page * limit : (page + 1) * limit], "total": len(offers)})
        finally:
            with self.lock:
                self.state["inflight"][card] -= 1

    def price_upload(self, request: Request) -> Response:
        session, denied = self._cabinet_auth(request)
        if denied:
            return denied
        assert session is not None
        uid = session["uid"]
        now = request.arrived_monotonic()
        with self.lock:
            if self.state["merchant_bans"].get(uid, 0) > now:
                self.state["counters"]["uploads_429"] += 1
                self.state["counters"][f"uploads_429:{uid}"] += 1
                return json_response({"error": "Too Many Requests"}, 429)
            if self.upload_rate_per_merchant and self._window_over(
                self.state["upload_times"].setdefault(uid, deque()), now, self.upload_rate_per_merchant
            ):
                self.state["merchant_bans"][uid] = now + self.merchant_ban_seconds
                self.state["counters"]["uploads_429"] += 1
                self.state["counters"][f"uploads_429:{uid}"] += 1
                self.state["counters"]["merchant_bans"] += 1
                return json_response({"error": "Too Many Requests"}, 429)
        try:
            body = request.json() or {}
            sku, price = str(body["sku"]), body["price"]
            cities = body.get("cityPrices") or []
            if not isinstance(price, int) or price < 10 or str(body["merchantUid"]) != uid:
                raise ValueError
            for city in cities:
                if not isinstance(city.get("value"), int) or city["value"] < 10 or not city.get("cityId"):
                    raise ValueError
            if not isinstance(body.get("availabilities"), list) or not body.get("model"):
                raise ValueError
        except (ValueError, TypeError, KeyError, AttributeError):
            return json_response({"error": "bad price upload"}, 400)
        with self.lock:
            if (uid, sku) not in self.state["skus"]:
                return json_response({"error": f"offer {sku} not found"}, 404)
            self.state["own_prices"][(uid, sku)] = price
            listed = self.state["listed"].get((uid, sku))
            if listed is not None:  # the cabinet's own offer list shows the new price too
                listed.update(minPrice=price, maxPrice=price, cityPrices=[{"cityId": "750000000", "value": price}])
            self.state["uploads"].append((uid, sku, price))
            self.state["counters"]["uploads"] += 1
            self.state["counters"][f"uploads:{uid}"] += 1
            job = len(self.state["uploads"])
        return json_response({"id": f"job-{job}"})

    def market_control(self, request: Request) -> Response:
        body = json_body(request) if request.method == "POST" else {}
        try:
            with self.lock:
                for key, kind in KNOBS.items():
                    if key in body:
                        setattr(self, key, kind(body[key]))
                if "failing_cards" in body:
                    self.state["failing_cards"] = {str(c) for c in body["failing_cards"]}
                link = body.get("link_range")
                if isinstance(link, dict):  # many offers at once (benchmarks): SKUs prefix-00000… on cards first…
                    for i in range(int(link["count"])):
                        self._link(str(link["uid"]), f"{link['sku_prefix']}{i:05d}", str(int(link["first_card"]) + i),
                                   int(link["price"]))  # fmt: skip
                if body.get("lift_bans"):
                    self.state["ip_bans"].clear()
                    self.state["merchant_bans"].clear()
            if body.get("tick"):
                self.tick(int(body["tick"]))
            if body.get("open_session"):  # cookies of a logged-in cabinet session (tests, benchmarks)
                return json_response({"cookies": self.open_session(str(body["open_session"]))})
        except (TypeError, ValueError, KeyError) as exc:
            return json_response({"error": f"bad knob: {exc}"}, 400)
        return json_response(self.market_stats())

    def market_stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                **{key: getattr(self, key) for key in KNOBS},
                "counters": {k: v for k, v in self.state["counters"].items() if not k.startswith("offers_ip:")},
                "offers_per_ip": {
                    k.split(":", 1)[1]: v for k, v in self.state["counters"].items() if k.startswith("offers_ip:")
                },
                "cards": len(self.state["cards"]),
            }

    def fetches(self, card: str) -> int:
        with self.lock:
            return int(self.state["fetches"][card])

    def counter(self, name: str) -> int:
        with self.lock:
            return int(self.state["counters"][name])


def _market_factory() -> KaspiMarketSimulator:
    # Kaspi's own limits, as the contract reports them; competitors move every 20 s for the demo.
    return KaspiMarketSimulator(react_seconds=20.0, offers_rate_per_ip=15, upload_rate_per_merchant=2)


# The `make run` Kaspi simulator is this one (same port and settings as sandbox/kaspi.py's).
register_simulator(replace(simulator_spec("kaspi"), factory=_market_factory))

__all__ = ["SANDBOX_MERCHANT_UID", "KaspiMarketSimulator"]


def main(argv: list[str] | None = None) -> None:
    """``python -m sandbox.kaspi_market --competitors 20 --latency-ms 50``: serve on an ephemeral port, print
    the URL, run until stdin closes or the process is stopped (benchmarks run it in its own process)."""
    import argparse
    import sys

    from .harness import SandboxServer

    parser = argparse.ArgumentParser()
    parser.add_argument("--competitors", type=int, default=20)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--offers-rate-per-ip", type=float, default=0.0)
    parser.add_argument("--upload-rate-per-merchant", type=float, default=0.0)
    args = parser.parse_args(argv)
    sim = KaspiMarketSimulator(
        offers=0, orders=0, competitors=args.competitors, offers_rate_per_ip=args.offers_rate_per_ip,
        upload_rate_per_merchant=args.upload_rate_per_merchant,
    )  # fmt: skip
    sim.faults.latency_ms = args.latency_ms
    server = SandboxServer(sim).start()
    print(server.url, flush=True)
    try:
        sys.stdin.read()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
