"""Kaspi.kz simulator (API_CONTRACTS.md "Kaspi.kz"; SPEC PLAT-12, MKT-1).

One server plays the four Kaspi hosts under their own path prefixes:
  /login…                   the cabinet login (idmc.shop.kaspi.kz): e-mail step, password step, then the
                            cabinet page (``nav.navbar``) and the ``mc-session``/``mc-sid`` cookies; a wrong
                            password shows ``.notification.is-danger``; an SMS account asks for a code
  /s/m, /bff/offer-view/list  the cabinet (mc.shop.kaspi.kz): cookies + ``x-auth-version: 3`` required
  /shop/api/v2/orders…      the Shop API (JSON:API, ``X-Auth-Token``; windows over 14 days refused)
  /yml/offer-view/offers/{productId}  public competitor offers (browser Origin/Referer required)

Knobs (``POST /_sandbox/kaspi``): ``session_ttl_seconds``, ``expire_sessions``, ``changed_page`` (the login
page loses its e-mail field), ``login_status`` (answer the login page with e.g. 503),
``login_render_ms`` (the login form is drawn by a script that long after the page loaded, as a
single-page app does). Counters: ``logins``.
The credentials below are public fakes of the simulator, not secrets.
"""

from __future__ import annotations

import html
import secrets
import time
from typing import Any
from urllib.parse import quote

from marketplaces.kaspi.demo_account import (
    SANDBOX_EMAIL,
    SANDBOX_MERCHANT_UID,
    SANDBOX_PASSWORD,
    SANDBOX_SHOP_TOKEN,
)

from .harness import Request, Response, Simulator, json_body, json_response
from .registry import SimulatorSpec, register_simulator

SMS_EMAIL = "sms@sandbox.kaspi.kz"
MAX_WINDOW_MS = 14 * 86_400_000 + 60_000  # a little slack for clocks, like the real API
BRANDS = ["Philips", "Bosch", "De'Longhi", "Xiaomi", "Samsung", "Tefal", "Redmond", "Polaris"]
ITEMS = ["Кофемашина", "Кофемолка", "Чайник", "Капучинатор", "Фильтр для воды", "Зерновой кофе 1 кг"]
_STATUS_OF = {"NEW": "APPROVED_BY_BANK", "SIGN_REQUIRED": "APPROVED_BY_BANK", "ARCHIVE": "COMPLETED"}
STATES = ["NEW", "SIGN_REQUIRED", "PICKUP", "DELIVERY", "KASPI_DELIVERY", "ARCHIVE"]


def _page(title: str, body: str) -> Response:
    doc = (
        f"<!doctype html><html lang=ru><head><meta charset=utf-8><title>{html.escape(title)}</title></head>"
        f"<body><section class=section>{body}</section></body></html>"
    )
    return Response(status=200, body=doc, content_type="text/html; charset=utf-8")


class KaspiSimulator(Simulator):
    name = "kaspi"

    def __init__(
        self,
        *,
        offers: int = 130,
        orders: int = 60,
        days: int = 30,
        seed: int = 7,
        session_ttl_seconds: float = 0.0,
        **options: Any,
    ) -> None:
        self.n_offers = offers
        self.n_orders = orders
        self.days = days
        self.seed = seed
        self.session_ttl_seconds = session_ttl_seconds
        super().__init__(**options)

    # --- state ----------------------------------------------------------------------------------------
    def reset_state(self) -> None:
        now_ms = int(time.time() * 1000)
        self.state = {
            "accounts": {
                SANDBOX_EMAIL: {"password": SANDBOX_PASSWORD, "uid": SANDBOX_MERCHANT_UID, "sms": False},
                SMS_EMAIL: {"password": SANDBOX_PASSWORD, "uid": "30100002", "sms": True},
            },
            "sessions": {},  # mc-session value -> {"uid", "sid", "issued"}
            "logins": 0,
            "login_attempts": 0,
            "changed_page": False,
            "login_status": 200,
            "login_render_ms": 0,
            "shop_tokens": {SANDBOX_SHOP_TOKEN: SANDBOX_MERCHANT_UID},
            "offers": {SANDBOX_MERCHANT_UID: [self._offer(i) for i in range(self.n_offers)]},
            "orders": {SANDBOX_MERCHANT_UID: [self._order(i, now_ms) for i in range(self.n_orders)]},
            "accepted": 0,
        }

    def _card(self, i: int) -> str:
        return str(100_000_000 + (i * 7919 + self.seed) % 900_000_000)

    def _offer(self, i: int) -> dict[str, Any]:
        card = self._card(i)
        item = ITEMS[i % len(ITEMS)]
        brand = BRANDS[(i // len(ITEMS)) % len(BRANDS)]
        price = 5000 + (i * 3571) % 400_000
        return {
            "sku": f"SKU-{i:05d}",
            "masterTitle": f"{item} {brand} {i}",
            "brand": brand,
            "minPrice": price,
            "maxPrice": price,
            "shopLink": f"https://kaspi.kz/shop/p/{quote(item.lower())}-{card}/?c=750000000",
            "availabilities": [
                {"storeId": f"{SANDBOX_MERCHANT_UID}_PP1", "available": "yes" if i % 9 else "no", "stockCount": i % 17}
            ],
            "cityPrices": [{"cityId": "750000000", "value": price}],
            "images": [f"https://resources.cdn-kaspi.kz/img/m/p/{card}.jpg"],
            "category": item,
        }

    def _order(self, i: int, now_ms: int) -> dict[str, Any]:
        span = self.days * 86_400_000
        created = now_ms - span + (i * span) // max(self.n_orders, 1) + (i * 7727) % 3_600_000
        state = STATES[i % len(STATES)]
        entries: list[dict[str, Any]] = [
            {
                "type": "orderentries",
                "id": f"{9000 + i}-{k}",
                "attributes": {
                    "quantity": 1 + (i + k) % 2,
                    "basePrice": 5000 + (i * 3571 + k) % 400_000,
                    "totalPrice": (1 + (i + k) % 2) * (5000 + (i * 3571 + k) % 400_000),
                    "entryNumber": k,
                    "deliveryCost": 0,
                    "offer": {
                        "code": f"SKU-{(i + k) % self.n_offers:05d}",
                        "name": f"{ITEMS[(i + k) % len(ITEMS)]} {i + k}",
                    },
                    "category": {"code": "Master - Coffee makers", "title": "Кофемашины"},
                },
                "relationships": {"product": {"data": {"type": "masterproducts", "id": self._card(i + k)}}},
            }
            for k in range(1 + i % 2)
        ]
        return {
            "type": "orders",
            "id": f"{(9000 + i) * 1000 + 17:d}",
            "attributes": {
                "code": f"{500_000_000 + i * 13}",
                "totalPrice": sum(e["attributes"]["totalPrice"] for e in entries),
                "paymentMode": "PAY_WITH_CREDIT" if i % 5 == 0 else "PREPAID",
                "creationDate": created,
                "state": state,
                "status": _STATUS_OF.get(state, "ACCEPTED_BY_MERCHANT"),
                "deliveryMode": "DELIVERY_PICKUP" if state == "PICKUP" else "DELIVERY_LOCAL",
                "isKaspiDelivery": state == "KASPI_DELIVERY",
                "plannedDeliveryDate": created + 3 * 86_400_000,
                "customer": {
                    "name": f"Покупатель {i}",
                    "firstName": "Покупатель",
                    "lastName": str(i),
                    "cellPhone": f"70{i:08d}",
                },
            },
            "relationships": {"entries": {"links": {"related": f"/orders/{(9000 + i) * 1000 + 17}/entries"}}},
            "_entries": entries,
        }

    def setup(self) -> None:
        self.route("GET", r"/login/?")(self.login_page)
        self.route("POST", r"/login/email")(self.login_email)
        self.route("POST", r"/login/password")(self.login_password)
        self.route("POST", r"/login/sms")(self.login_sms)
        self.route("GET", r"/cabinet/?")(self.cabinet_page)
        self.route("GET", r"/s/m")(self.session_probe)
        self.route("GET", r"/bff/offer-view/list")(self.offer_list)
        self.route("GET", r"/shop/api/v2/orders")(self.orders)
        self.route("GET", r"/shop/api/v2/orders/(?P<id>[^/]+)/entries")(self.entries)
        self.route("POST", r"/shop/api/v2/orders")(self.accept)
        self.route("POST", r"/yml/offer-view/offers/(?P<product>\d+)")(self.public_offers)
        self.control_route(r"/_sandbox/kaspi")(self.control)

    def control(self, request: Request) -> Response:
        body = json_body(request) if request.method == "POST" else {}
        with self.lock:
            if "session_ttl_seconds" in body:
                self.session_ttl_seconds = float(body["session_ttl_seconds"])
            if body.get("expire_sessions"):
                self.state["sessions"].clear()
            if "changed_page" in body:
                self.state["changed_page"] = bool(body["changed_page"])
            if "login_status" in body:
                self.state["login_status"] = int(body["login_status"])
            if "login_render_ms" in body:
                self.state["login_render_ms"] = int(body["login_render_ms"])
            return json_response(
                {
                    "logins": self.state["logins"],
                    "login_attempts": self.state["login_attempts"],
                    "sessions": len(self.state["sessions"]),
                    "accepted": self.state["accepted"],
                    "session_ttl_seconds": self.session_ttl_seconds,
                }
            )

    def expire_sessions(self) -> None:
        with self.lock:
            self.state["sessions"].clear()

    def open_session(self, uid: str = SANDBOX_MERCHANT_UID) -> dict[str, str]:
        """Session cookies as a browser login would get them (for tests that are not about the login)."""
        token, sid = secrets.token_urlsafe(24), secrets.token_hex(8)
        with self.lock:
            self.state["sessions"][token] = {"uid": uid, "sid": sid, "issued": time.monotonic()}
        return {"mc-session": token, "mc-sid": sid}

    @property
    def logins(self) -> int:
        with self.lock:
            return int(self.state["logins"])

    # --- login pages ------------------------------------------------------------------------------------
    def login_page(self, request: Request) -> Response:
        with self.lock:
            status = self.state["login_status"]
            changed = self.state["changed_page"]
            render_ms = self.state["login_render_ms"]
        if status != 200:
            return Response(status=status, body="<h1>Сервис временно недоступен</h1>", content_type="text/html")
        if changed:
            return _page(
                "Kaspi",
                "<h1>Новый вход</h1><form><input id=login_input name=login>"
                "<button class='button is-primary'>Далее</button></form>",
            )
        form = (
            "<form method=post action=/login/email>"
            "<input class=input id=user_email_field name=email type=email placeholder='E-mail'>"
            "<button class='button is-primary' type=submit>Продолжить</button></form>"
        )
        if render_ms:
            form = (
                f"<div id=root></div><template id=form>{form}</template><script>setTimeout(function () {{"
                "document.getElementById('root').appendChild(document.getElementById('form').content.cloneNode(true));"
                f"}}, {render_ms});</script>"
            )
        return _page("Вход — Kaspi Магазин", "<h1 class=title>Вход для партнёров</h1>" + form)

    def login_email(self, request: Request) -> Response:
        email = request.form().get("email", "")
        with self.lock:
            self.state["login_attempts"] += 1
        return _page(
            "Пароль — Kaspi Магазин",
            (
                f"<p>{html.escape(email)}</p><form method=post action=/login/password>"
                f"<input type=hidden name=email value='{html.escape(email, quote=True)}'>"
                "<input class=input id=password_field name=password type=password placeholder='Пароль'>"
                "<button class='button is-primary' type=submit>Войти</button></form>"
            ),
        )

    def _issue(self, uid: str) -> Response:
        token, sid = secrets.token_urlsafe(24), secrets.token_hex(8)
        with self.lock:
            self.state["sessions"][token] = {"uid": uid, "sid": sid, "issued": time.monotonic()}
            self.state["logins"] += 1
        cookies = {"mc-session": token, "mc-sid": sid}
        response = Response(status=302, body=b"", headers={"Location": "/cabinet"}, content_type="text/html")
        # Two Set-Cookie headers: the harness keeps a dict, so the second one rides on a distinct key.
        response.headers["Set-Cookie"] = f"mc-session={cookies['mc-session']}; Path=/; HttpOnly"
        response.headers["set-cookie"] = f"mc-sid={cookies['mc-sid']}; Path=/; HttpOnly"
        return response

    def login_password(self, request: Request) -> Response:
        form = request.form()
        with self.lock:
            account = self.state["accounts"].get(form.get("email", ""))
        if account is None or form.get("password") != account["password"]:
            return _page(
                "Вход — Kaspi Магазин",
                (
                    "<div class='notification is-danger'>Неверный e-mail или пароль</div>"
                    "<form method=post action=/login/email><input class=input id=user_email_field name=email>"
                    "<button class='button is-primary' type=submit>Продолжить</button></form>"
                ),
            )
        if account["sms"]:
            return _page(
                "Код из SMS — Kaspi Магазин",
                (
                    "<p>Мы отправили код на номер +7 7** *** ** 12</p><form method=post action=/login/sms>"
                    "<input class=input id=sms_code_field name=code autocomplete=one-time-code>"
                    "<button class='button is-primary' type=submit>Подтвердить</button></form>"
                ),
            )
        return self._issue(account["uid"])

    def login_sms(self, request: Request) -> Response:
        return _page("Код из SMS", "<div class='notification is-danger'>Неверный код</div>")

    def _session(self, request: Request) -> dict[str, Any] | None:
        cookies = {}
        for part in request.headers.get("Cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            cookies[name] = value
        with self.lock:
            session = self.state["sessions"].get(cookies.get("mc-session", ""))
            if session is None or session["sid"] != cookies.get("mc-sid"):
                return None
            if self.session_ttl_seconds and time.monotonic() - session["issued"] > self.session_ttl_seconds:
                self.state["sessions"].pop(cookies["mc-session"], None)
                return None
            return dict(session)

    def cabinet_page(self, request: Request) -> Response:
        session = self._session(request)
        if session is None:
            return Response(status=302, body=b"", headers={"Location": "/login"}, content_type="text/html")
        return _page(
            "Kaspi Магазин — кабинет",
            (
                "<nav class=navbar><a class=navbar-item href=/cabinet>Kaspi Магазин</a>"
                f"<span class=navbar-item>Партнёр {html.escape(session['uid'])}</span></nav><h1>Заказы</h1>"
            ),
        )

    # --- cabinet JSON -----------------------------------------------------------------------------------
    def _cabinet_auth(self, request: Request) -> tuple[dict[str, Any] | None, Response | None]:
        if request.headers.get("X-Auth-Version") != "3":
            return None, json_response({"error": "x-auth-version required"}, 400)
        session = self._session(request)
        if session is None:
            return None, json_response({"error": "Unauthorized"}, 401)
        return session, None

    def session_probe(self, request: Request) -> Response:
        session, denied = self._cabinet_auth(request)
        if denied:
            return denied
        assert session is not None
        return json_response({"merchants": [{"uid": session["uid"], "name": "Sandbox Store"}]})

    def offer_list(self, request: Request) -> Response:
        session, denied = self._cabinet_auth(request)
        if denied:
            return denied
        assert session is not None
        uid = request.arg("m") or ""
        if uid != session["uid"]:
            return json_response({"error": "Forbidden"}, 403)
        try:
            page = max(0, int(request.arg("p") or 0))
            size = min(100, max(1, int(request.arg("l") or 10)))  # larger pages are cut to 100, silently
        except ValueError:
            return json_response({"error": "bad paging"}, 400)
        with self.lock:
            offers = list(self.state["offers"].get(uid, []))
        return json_response({"data": offers[page * size : (page + 1) * size], "total": len(offers)})

    # --- Shop API ---------------------------------------------------------------------------------------
    def _shop_auth(self, request: Request) -> tuple[str | None, Response | None]:
        with self.lock:
            uid = self.state["shop_tokens"].get(request.headers.get("X-Auth-Token", ""))
        if uid is None:
            return None, json_response({"errors": [{"status": "401", "title": "Unauthorized"}]}, 401)
        return uid, None

    def orders(self, request: Request) -> Response:
        uid, denied = self._shop_auth(request)
        if denied:
            return denied
        try:
            page = int(request.arg("page[number]") or 0)
            size = int(request.arg("page[size]") or 20)
            ge = int(request.arg("filter[orders][creationDate][$ge]") or "")
            le = int(request.arg("filter[orders][creationDate][$le]") or "")
        except ValueError:
            return json_response(
                {
                    "errors": [
                        {"status": "400", "title": "creationDate filter ($ge, $le) and numeric paging are required"}
                    ]
                },
                400,
            )
        if size > 100 or size < 1 or page < 0:
            return json_response({"errors": [{"status": "400", "title": "page[size] must be 1..100"}]}, 400)
        if le - ge > MAX_WINDOW_MS or le < ge:
            return json_response({"errors": [{"status": "400", "title": "creationDate window over 14 days"}]}, 400)
        state = request.arg("filter[orders][state]")
        with self.lock:
            rows = [
                o
                for o in self.state["orders"].get(uid, [])
                if ge <= o["attributes"]["creationDate"] <= le and (not state or o["attributes"]["state"] == state)
            ]
        rows.sort(key=lambda o: o["attributes"]["creationDate"])
        data = [{k: v for k, v in o.items() if k != "_entries"} for o in rows[page * size : (page + 1) * size]]
        pages = (len(rows) + size - 1) // size
        return Response(
            status=200,
            body={"data": data, "included": [], "meta": {"pageCount": pages, "totalCount": len(rows)}},
            content_type="application/vnd.api+json",
        )

    def _find(self, uid: str, order_id: str) -> dict[str, Any] | None:
        return next((o for o in self.state["orders"].get(uid, []) if o["id"] == order_id), None)

    def entries(self, request: Request) -> Response:
        uid, denied = self._shop_auth(request)
        if denied:
            return denied
        with self.lock:
            order = self._find(uid or "", request.params["id"])
            entries = list(order["_entries"]) if order else None
        if entries is None:
            return json_response({"errors": [{"status": "404", "title": "Order not found"}]}, 404)
        return Response(status=200, body={"data": entries}, content_type="application/vnd.api+json")

    def accept(self, request: Request) -> Response:
        uid, denied = self._shop_auth(request)
        if denied:
            return denied
        try:
            data = request.json()["data"]
            order_id, attrs = str(data["id"]), data["attributes"]
            assert data["type"] == "orders"
        except (ValueError, KeyError, TypeError, AssertionError):
            return json_response(
                {"errors": [{"status": "400", "title": "a JSON:API orders document is required"}]}, 400
            )
        with self.lock:
            order = self._find(uid or "", order_id)
            if order is None:
                return json_response({"errors": [{"status": "404", "title": "Order not found"}]}, 404)
            if attrs.get("status") != "ACCEPTED_BY_MERCHANT" or str(attrs.get("code")) != order["attributes"]["code"]:
                return json_response({"errors": [{"status": "400", "title": "wrong code or status"}]}, 400)
            if order["attributes"]["status"] != "ACCEPTED_BY_MERCHANT":
                order["attributes"]["status"] = "ACCEPTED_BY_MERCHANT"
                self.state["accepted"] += 1
            body = {k: v for k, v in order.items() if k != "_entries"}
        return Response(status=200, body={"data": body}, content_type="application/vnd.api+json")

    # --- public offers -----------------------------------------------------------------------------------
    def public_offers(self, request: Request) -> Response:
        if not (request.headers.get("Referer", "") + request.headers.get("Origin", "")).startswith("https://kaspi.kz"):
            return json_response({"error": "Forbidden"}, 403)
        try:
            body = request.json() or {}
            limit = min(64, max(1, int(body.get("limit", 64))))
            page = max(0, int(body.get("page", 0)))
        except (ValueError, TypeError):
            return json_response({"error": "bad request"}, 400)
        product = int(request.params["product"])
        total = 64 + product % 40
        base = 5000 + product % 300_000
        offers = [
            {
                "merchantId": f"M{(product + k * 31) % 100000:05d}",
                "merchantName": f"Магазин {k}",
                "merchantSku": f"C-{product}-{k}",
                "price": base + k * 150,
                "merchantRating": round(4 + (k % 10) / 10, 1),
                "deliveryDuration": ["TODAY", "TOMORROW", "TWO_DAYS", "THREE_DAYS"][k % 4],
                "kaspiDelivery": k % 3 == 0,
            }
            for k in range(total)
        ]
        return json_response({"offers": offers[page * limit : (page + 1) * limit], "total": total})


def _sandbox_factory() -> KaspiSimulator:
    sim = KaspiSimulator()
    sim.faults.rate_limit_per_second = 15
    return sim


register_simulator(
    SimulatorSpec(
        name="kaspi",
        factory=_sandbox_factory,
        port_offset=6,
        settings={
            "KASPI_SHOP_API_URL": "/shop/api/v2",
            "KASPI_OFFERS_URL": "/yml/offer-view/offers",
            "KASPI_CABINET_URL": "",
            "KASPI_LOGIN_URL": "/login",
        },
    )
)
