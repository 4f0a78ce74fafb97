"""Vendista simulator (API_CONTRACTS.md "Vendista"; SPEC PLAT-12, VEN-1).

Transactions are generated deterministically from their index (seeded), in time order, so any
volume (millions) is served without materialising it: transaction ``i`` happens at
``start + (i + frac(i)) * step``, which makes DateFrom/DateTo a pair of index bounds. Real paging
semantics: ``limit``/``offset`` ignored, ``ItemsOnPage`` defaults to 50, ``PageNumber`` from 1,
``items_count`` is the size of the filtered set. Knobs: token expiry, 402 mode, late-arriving
transactions (inserted in the past, for the incremental overlap), changed transactions, and the
harness faults (latency, errors, 429s, hangs, a ~1 req/s limit).
"""

from __future__ import annotations

import bisect
import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from vending.demo_account import DEMO_LOGIN, DEMO_PASSWORD

from .harness import Request, Response, Simulator, json_body, json_response, serve_until_interrupted
from .registry import SimulatorSpec, register_simulator

DEFAULT_PAGE_SIZE = 50
# The app's demo login (vending.demo_account): the simulator imports it, never the reverse.
SANDBOX_LOGIN = DEMO_LOGIN
SANDBOX_PASSWORD = DEMO_PASSWORD
_MASK = 0xFFFFFFFFFFFF


def _h(seed: int, i: int, salt: int) -> int:
    # A cheap deterministic mix (splitmix64-like); no need for cryptographic quality.
    x = (i * 0x9E3779B97F4A7C15 + seed * 0xBF58476D1CE4E5B9 + salt * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 31
    x = (x * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x ^= x >> 29
    return x & _MASK


PRICES = [9000, 12000, 15000, 17000, 19000, 22000, 25000]
BUTTONS = ["Эспрессо", "Американо", "Капучино", "Латте", "Раф", "Какао", "Чай"]


class VendistaSimulator(Simulator):
    name = "vendista"

    def __init__(
        self,
        *,
        total: int = 5000,
        terminals: int = 5,
        seed: int = 42,
        start: str = "2026-01-01T00:00:00",
        days: float = 30.0,
        refund_rate: float = 0.02,
        id_base: int = 100_000_000,
        token_ttl_seconds: float = 0.0,
        **options: Any,
    ) -> None:
        self.total = total
        self.n_terminals = terminals
        self.seed = seed
        self.start = datetime.fromisoformat(start)
        self.span_ms = int(days * 86_400_000)
        self.refund_rate = refund_rate
        self.id_base = id_base
        self.token_ttl_seconds = token_ttl_seconds
        super().__init__(**options)

    # --- state ------------------------------------------------------------------------------------
    def reset_state(self) -> None:
        self.state = {
            "tokens": {},  # token -> issued monotonic time
            "unpaid": False,
            "bad_token_status": 401,
            "late": [],  # extra transactions (dicts), sorted by time
            "overrides": {},  # vendista id -> {field: value}
            "logins": 0,
            "page_reads": {},  # page number -> times it was served (tests: a page is read at most twice)
            "inflight": 0,  # /transactions requests being answered now, and the most ever at once
            "max_inflight": 0,
        }

    def setup(self) -> None:
        self.route("GET", r"/token")(self.token)
        self.route("GET", r"/transactions")(self.transactions)
        self.route("GET", r"/terminals")(self.terminals)
        self.control_route(r"/_sandbox/vendista")(self.control)

    def rate_limit_key(self, request: Request) -> str | None:
        return request.arg("token") or "anonymous"

    def handle(self, request: Request) -> Response:
        if request.path != "/transactions":
            return super().handle(request)
        with self.lock:
            self.state["inflight"] += 1
            self.state["max_inflight"] = max(self.state["max_inflight"], self.state["inflight"])
        try:
            return super().handle(request)
        finally:
            with self.lock:
                self.state["inflight"] -= 1

    # --- knobs (also reachable over HTTP for `make run` and the benchmark's separate process) ---------
    def control(self, request: Request) -> Response:
        body = json_body(request)
        with self.lock:
            if "unpaid" in body:
                self.state["unpaid"] = bool(body["unpaid"])
            if "token_ttl_seconds" in body:
                self.token_ttl_seconds = float(body["token_ttl_seconds"])
            if body.get("expire_tokens"):
                self.state["tokens"].clear()
        return json_response({"ok": True, "unpaid": self.state["unpaid"], "total": self.total})

    def expire_tokens(self) -> None:
        with self.lock:
            self.state["tokens"].clear()

    def set_unpaid(self, unpaid: bool) -> None:
        with self.lock:
            self.state["unpaid"] = unpaid

    def add_late(self, *, time: datetime, term_id: int | None = None, sum: int = 15000) -> dict[str, Any]:
        """A transaction that shows up now although it happened at ``time`` (inside an overlap)."""
        with self.lock:
            k = len(self.state["late"])
            item = self._item(
                self.total + 10_000_000 + k, time_value=time, term_id=term_id or self.term_of(0), sum_value=sum
            )
            self.state["late"].append(item)
            self.state["late"].sort(key=lambda t: t["time"])
        return item

    def change(self, vendista_id: int, **fields: Any) -> None:
        with self.lock:
            self.state["overrides"][vendista_id] = fields

    # --- generator -----------------------------------------------------------------------------------
    @property
    def step_ms(self) -> float:
        return self.span_ms / max(self.total, 1)

    def time_ms(self, i: int) -> int:
        frac = (_h(self.seed, i, 1) % 1000) / 1000.0
        return int((i + frac) * self.step_ms)

    def time_of(self, i: int) -> datetime:
        return self.start + timedelta(milliseconds=self.time_ms(i))

    def term_of(self, i: int) -> int:
        return 1000 + _h(self.seed, i, 2) % self.n_terminals

    def index_at(self, moment: datetime) -> int:
        """First index whose time is >= moment."""
        offset = (moment - self.start) / timedelta(milliseconds=1)
        if offset <= 0:
            return 0
        i = max(0, min(self.total, int(offset / self.step_ms) - 1))
        while i < self.total and self.time_ms(i) < offset:
            i += 1
        while i > 0 and self.time_ms(i - 1) >= offset:
            i -= 1
        return i

    def _item(
        self, i: int, *, time_value: datetime | None = None, term_id: int | None = None, sum_value: int | None = None
    ) -> dict[str, Any]:
        h = _h(self.seed, i, 3)
        refund = i > 50 and (h % 10_000) < self.refund_rate * 10_000 and time_value is None
        target = i - 1 - (h >> 20) % 50 if refund else i
        button = _h(self.seed, target, 4) % len(PRICES)
        price = PRICES[button] if sum_value is None else sum_value
        term = term_id if term_id is not None else self.term_of(target)
        moment = time_value or self.time_of(i)
        card = f"{220220 + h % 7:06d}******{h % 10_000:04d}"
        item = {
            "id": self.id_base + i,
            "term_id": term,
            "time": moment.strftime("%Y-%m-%d %H:%M:%S.") + f"{moment.microsecond // 1000:03d}",
            "sum": price,
            "bonus": 0,
            "left_sum": 0,
            "left_bonus": 0,
            "card_number": card,
            "reverse_id": (self.id_base + target) if refund else 0,
            "result": 1,
            "status": 1 if not refund else 3,
            "status_text": "Успешно" if not refund else "Возврат",
            "operation_type": 2 if refund else 1,
            "terminal_comment": f"Кофемашина {term}",
            "machine_item": [
                {"machine_item_id": button + 1, "name": BUTTONS[button], "count": 1, "price": PRICES[button]}
            ],
            "machine_id": term * 10,
            "payment_type": 1,
            "rrn": f"{h % 10**12:012d}",
            "auth_code": f"{h % 10**6:06d}",
            "qr_id": None,
            "fiscal_status": 0,
            "discount": 0,
            "discount_sum": 0,
            "cashback": 0,
            "comment": "",
            "owner_id": 1,
            "is_cash": False,
        }
        override = self.state["overrides"].get(item["id"])
        if override:
            item.update(override)
        return item

    # --- routes ----------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        if request.arg("login") != SANDBOX_LOGIN or request.arg("password") != SANDBOX_PASSWORD:
            return json_response({"success": False, "error": "Неверный логин или пароль"}, 401)
        token = secrets.token_hex(16)
        with self.lock:
            self.state["tokens"][token] = time.monotonic()
            self.state["logins"] += 1
        return json_response({"token": token})

    def _auth(self, request: Request) -> Response | None:
        token = request.arg("token") or ""
        with self.lock:
            issued = self.state["tokens"].get(token)
            unpaid = self.state["unpaid"]
            status = self.state["bad_token_status"]
        if issued is None or (self.token_ttl_seconds and time.monotonic() - issued > self.token_ttl_seconds):
            return json_response({"success": False, "error": "Unauthorized"}, status)
        if unpaid:
            return json_response({"success": False, "error": "Подписка не оплачена"}, 402)
        return None

    def _window(self, request: Request) -> tuple[int, int, list[dict[str, Any]]]:
        date_from = request.arg("DateFrom")
        date_to = request.arg("DateTo")
        lo = self.index_at(datetime.fromisoformat(date_from)) if date_from else 0
        # DateTo is inclusive to the second.
        hi = self.index_at(datetime.fromisoformat(date_to) + timedelta(seconds=1)) if date_to else self.total
        with self.lock:
            late = list(self.state["late"])
        if date_from:
            late = [t for t in late if t["time"] >= date_from.replace("T", " ")]
        if date_to:
            late = [t for t in late if t["time"][:19] <= date_to.replace("T", " ")]
        return lo, max(lo, hi), late

    def transactions(self, request: Request) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        try:
            page = max(1, int(request.arg("PageNumber") or 1))
            size = max(1, int(request.arg("ItemsOnPage") or DEFAULT_PAGE_SIZE))  # limit/offset: ignored
            term_arg = request.arg("TermId")
            term = int(term_arg) if term_arg else None
        except ValueError:
            return json_response({"success": False, "error": "bad paging parameter"}, 400)
        lo, hi, late = self._window(request)
        with self.lock:
            self.state["page_reads"][page] = self.state["page_reads"].get(page, 0) + 1
        desc = (request.arg("OrderDesc") or "false").lower() == "true"
        start = (page - 1) * size
        if term is None and not late:
            count = hi - lo
            indexes = range(lo + start, min(hi, lo + start + size))
            if desc:
                indexes = range(hi - 1 - start, max(lo - 1, hi - 1 - start - size), -1)
            with self.lock:
                items = [self._item(i) for i in indexes]
        else:
            # Filters the generator cannot answer by index: materialise the window (small volumes).
            if hi - lo > 500_000:
                return json_response({"success": False, "error": "sandbox: window too large for TermId"}, 400)
            with self.lock:
                rows = [self._item(i) for i in range(lo, hi)]
            times = [r["time"] for r in rows]
            for extra in late:
                rows.insert(bisect.bisect_right(times, extra["time"]), extra)
                times = [r["time"] for r in rows]
            if term is not None:
                rows = [r for r in rows if r["term_id"] == term]
            if desc:
                rows.reverse()
            count = len(rows)
            items = rows[start : start + size]
        body = json.dumps(
            {"page_number": page, "items_per_page": size, "items_count": count, "items": items, "success": True},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return Response(status=200, body=body.encode())

    def terminals(self, request: Request) -> Response:
        denied = self._auth(request)
        if denied:
            return denied
        page = max(1, int(request.arg("PageNumber") or 1))
        size = max(1, int(request.arg("ItemsOnPage") or DEFAULT_PAGE_SIZE))
        all_items = [
            {
                "id": 1000 + k,
                "comment": f"Кофемашина {1000 + k}",
                "serial_number": f"VT{_h(self.seed, k, 9):012X}"[:10],
                "last_online_time": "2026-01-05 06:50:28",
                "last_hour_online": 1,
            }
            for k in range(self.n_terminals)
        ]
        items = all_items[(page - 1) * size : page * size]
        return json_response(
            {
                "page_number": page,
                "items_per_page": size,
                "items_count": len(all_items),
                "items": items,
                "success": True,
            }
        )


def _sandbox_factory() -> VendistaSimulator:
    # `make run`: a few weeks of sales on 5 machines, ending around now, ~1 req/s like the real API.
    now = datetime.now().replace(microsecond=0)
    sim = VendistaSimulator(total=6000, terminals=5, start=(now - timedelta(days=30)).isoformat(), days=30)
    sim.faults.rate_limit_per_second = 5
    return sim


register_simulator(
    SimulatorSpec(name="vendista", factory=_sandbox_factory, port_offset=4, settings={"VENDISTA_API_URL": ""})
)


def main() -> None:  # pragma: no cover - used by the benchmark to run the simulator in its own process
    import argparse

    parser = argparse.ArgumentParser()
    parser.add_argument("--total", type=int, default=1_000_000)
    parser.add_argument("--terminals", type=int, default=50)
    parser.add_argument("--days", type=float, default=60)
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    serve_until_interrupted(
        VendistaSimulator(total=args.total, terminals=args.terminals, days=args.days), port=args.port
    )


if __name__ == "__main__":  # pragma: no cover
    main()
