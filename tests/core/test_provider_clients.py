"""Every provider client: one pooled ``HttpClient`` per provider per process (``core.http.http_client``),
however many accounts; each account's credentials and pace ride on its own requests (issue 22).

Two client objects for two accounts call a small recording server on 127.0.0.1: they share one
``HttpClient`` (and so its connection pool), and each request carries its own account's credentials
and went through its own account's ``before_request``, never the other's.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.http import http_client


@dataclass
class Seen:
    method: str
    path: str  # as sent: a request through a proxy carries the whole URL
    query: dict[str, list[str]]
    headers: dict[str, str]


@dataclass
class Recorder:
    url: str
    seen: list[Seen] = field(default_factory=list)


def _answer(path: str) -> Any:
    """Just enough of each provider's answer for the client to accept it."""
    if "/transactions" in path:
        return {"success": True, "items": [], "items_count": 7, "page_number": 1, "items_per_page": 1}
    if "storage.getSuppliers" in path:
        return {"response": []}
    if "order/count" in path:
        return {"isError": False, "messages": [], "results": {"noOfItems": 3}}
    if path.endswith("/s/m"):
        return {"merchants": [{"uid": "M1"}]}
    if "/entries" in path:
        return {"data": []}
    if "/pricefeed/upload" in path:
        return {"id": "job-1"}
    return {"offers": [], "total": 0}


@pytest.fixture
def recorder() -> Iterator[Callable[[], Recorder]]:
    servers: list[ThreadingHTTPServer] = []

    def start() -> Recorder:
        found = Recorder(url="")

        class Handler(BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                found.seen.append(Seen(self.command, self.path, parse_qs(parts.query), dict(self.headers)))
                body = json.dumps(_answer(parts.path)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _handle

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        found.url = f"http://127.0.0.1:{server.server_address[1]}"
        return found

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _paced(name: str, log: list[str]) -> Callable[[], None]:
    return lambda: log.append(name)


def _basic(header: str) -> str:
    return base64.b64decode(header.removeprefix("Basic ")).decode()


def test_vendista_accounts_share_one_client_and_send_their_own_token(recorder) -> None:
    from vending.clients.vendista import SERVICE, VendistaClient

    server, paced = recorder(), list[str]()
    a = VendistaClient(base_url=server.url, token="token-a", before_request=_paced("a", paced))
    b = VendistaClient(base_url=server.url, token="token-b", before_request=_paced("b", paced))
    assert a.http is b.http is http_client(SERVICE, server.url)
    assert (a.connection_test(), b.connection_test(), a.connection_test()) == (7, 7, 7)
    assert [s.query["token"] for s in server.seen] == [["token-a"], ["token-b"], ["token-a"]]
    assert paced == ["a", "b", "a"]


def test_poster_accounts_share_one_client_and_send_their_own_token(recorder) -> None:
    from poster_sync.clients.poster import SERVICE, PosterClient

    server, paced = recorder(), list[str]()
    a = PosterClient(base_url=server.url, token="1:aaa", before_request=_paced("a", paced))
    b = PosterClient(base_url=server.url, token="2:bbb", before_request=_paced("b", paced))
    assert a.http is b.http is http_client(SERVICE, server.url)
    assert b.suppliers() == [] and a.suppliers() == []
    assert [s.query["token"] for s in server.seen] == [["2:bbb"], ["1:aaa"]]
    assert paced == ["b", "a"]


def test_emag_accounts_share_one_client_and_send_their_own_credentials(recorder) -> None:
    from marketplaces.emag.clients.emag import SERVICE, EmagClient

    server = recorder()
    a = EmagClient(base_url=server.url, username="user-a", password="pw-a", limiter_ref="test-pool-a")
    b = EmagClient(base_url=server.url, username="user-b", password="pw-b", limiter_ref="test-pool-b")
    assert a.http is b.http is http_client(SERVICE, server.url)
    assert (a.orders_count(), b.orders_count()) == (3, 3)
    assert [_basic(s.headers["Authorization"]) for s in server.seen] == ["user-a:pw-a", "user-b:pw-b"]


def test_kaspi_cabinet_merchants_share_one_client_and_send_their_own_cookies(recorder) -> None:
    from marketplaces.kaspi.clients.cabinet import SERVICE, CabinetClient, Cookie

    server, paced = recorder(), list[str]()
    a = CabinetClient(base_url=server.url, cookies=[Cookie("mc-sid", "sid-a")], before_request=_paced("a", paced))
    b = CabinetClient(base_url=server.url, cookies=[Cookie("mc-sid", "sid-b")], before_request=_paced("b", paced))
    assert a.http is b.http is http_client(SERVICE, server.url)
    assert a.session_probe() == ["M1"]
    assert b.upload_price(merchant_uid="M2", sku="S", model="m", price=1000, city_id="750000000") == "job-1"
    assert [(s.method, s.headers["Cookie"], s.headers["x-auth-version"]) for s in server.seen] == [
        ("GET", "mc-sid=sid-a", "3"),
        ("POST", "mc-sid=sid-b", "3"),
    ]
    assert paced == ["a", "b"]


def test_kaspi_shop_api_stores_share_one_client_and_send_their_own_token(recorder) -> None:
    from marketplaces.kaspi.clients.shop import SERVICE, ShopApiClient

    server, paced = recorder(), list[str]()
    a = ShopApiClient(base_url=server.url, token="shop-a", before_request=_paced("a", paced))
    b = ShopApiClient(base_url=server.url, token="shop-b", before_request=_paced("b", paced))
    assert a.http is b.http is http_client(SERVICE, server.url)
    assert a.order_entries(order_id="1") == [] and b.order_entries(order_id="2") == []
    assert [(s.path, s.headers["X-Auth-Token"]) for s in server.seen] == [
        ("/orders/1/entries", "shop-a"),
        ("/orders/2/entries", "shop-b"),
    ]
    assert "X-Auth-Token" not in a.http.session.headers  # nothing of a store on the shared client
    assert paced == ["a", "b"]


def test_kaspi_offers_routes_share_one_client_and_each_goes_through_its_own_proxy(recorder) -> None:
    from marketplaces.kaspi.clients.offers import SERVICE, OffersClient

    proxy_a, proxy_b, paced = recorder(), recorder(), list[str]()
    kaspi = "http://127.0.0.1:9/yml/offer-view/offers"  # reached only through the proxies
    a = OffersClient(base_url=kaspi, before_request=_paced("a", paced), proxy=proxy_a.url)
    b = OffersClient(base_url=kaspi, before_request=_paced("b", paced), proxy=proxy_b.url)
    assert a.http is b.http is http_client(SERVICE, kaspi)
    assert a.offers(product_id="1") == [] and b.offers(product_id="2") == [] and a.offers(product_id="3") == []
    assert [s.path for s in proxy_a.seen] == [f"{kaspi}/1", f"{kaspi}/3"]
    assert [s.path for s in proxy_b.seen] == [f"{kaspi}/2"]
    assert paced == ["a", "b", "a"]


def test_no_provider_client_builds_its_own_http_client() -> None:
    """``HttpClient(...)`` is built by ``core.http.http_client`` only (CONVENTIONS "The kit")."""
    root = Path(__file__).resolve().parents[2]
    apps = ("core", "payments", "vending", "poster_sync", "marketplaces", "repricer", "alerts", "overview")
    offenders = [
        str(path.relative_to(root))
        for app in apps
        for path in (root / app).rglob("*.py")
        if path != root / "core" / "http.py" and re.search(r"\bHttpClient\(", path.read_text())
    ]
    assert offenders == []


def test_the_registry_refuses_a_caller_whose_service_options_differ() -> None:
    from core.http import RetryPolicy

    first = http_client("options-test", "http://127.0.0.1:9", retry=RetryPolicy(max_retries=2))
    assert http_client("options-test", "http://127.0.0.1:9", retry=RetryPolicy(max_retries=2)) is first
    assert http_client("options-test", "http://127.0.0.1:9") is first  # no options: the shared client as it is
    with pytest.raises(ValueError):
        http_client("options-test", "http://127.0.0.1:9", retry=RetryPolicy(max_retries=5))
