from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from marketplaces.kaspi.models import KaspiProduct, KaspiStore, SessionState
from repricer.models import RepricingRule
from repricer.services.limits import thread_redis_client
from repricer.services.proxies import proxy_routes_forget
from sandbox.kaspi import SANDBOX_EMAIL, SANDBOX_MERCHANT_UID, SANDBOX_PASSWORD
from sandbox.kaspi_market import KaspiMarketSimulator
from tests.factories import MerchantFactory
from tests.support.simulators import simulator_env

FIRST_CARD = 500_000_000


def _flush_repricer_keys() -> None:
    client = thread_redis_client()
    for pattern in ("repricer:*", "merchant-ops:pace:*kaspi:*", "LIMITS:*kaspi:*"):
        for key in client.scan_iter(pattern, count=1000):
            client.delete(key)


@pytest.fixture(autouse=True)
def _clean_redis() -> Iterator[None]:
    proxy_routes_forget()
    _flush_repricer_keys()
    yield
    _flush_repricer_keys()


def market_env(sim: KaspiMarketSimulator) -> dict[str, str]:
    """The same settings for a worker process (the test process gets them from ``market``)."""
    return simulator_env(sim)


@pytest.fixture
def market(start_simulator: Callable[..., Any], settings: Any, tmp_path: Any) -> Callable[..., KaspiMarketSimulator]:
    settings.MEDIA_ROOT = str(tmp_path / "media")

    def start(**options: Any) -> KaspiMarketSimulator:
        options.setdefault("offers", 0)
        # Uploads are limited per merchant (REP-4); tests that are not about that limit raise both sides:
        # 10/s against Kaspi's 60. Not faster: a paced request may start at most a quarter of its spacing
        # late (core.ratelimit), 167 ms at the real 1.5/s; at 50/s that was 5 ms, which a busy machine's
        # scheduler and GIL hand-offs miss twenty times in a row ("could not send on pace", seen under
        # `make test-stress`); at 10/s it is 25 ms.
        options.setdefault("upload_rate_per_merchant", 60)
        settings.REPRICER_UPLOAD_RATE_PER_SECOND = 10.0 if options["upload_rate_per_merchant"] >= 60 else 1.5
        options.setdefault("orders", 0)
        sim = KaspiMarketSimulator(**options)
        start_simulator(sim)
        return sim

    return start


def make_store(sim: KaspiMarketSimulator, *, uid: str = SANDBOX_MERCHANT_UID, merchant: Any = None) -> KaspiStore:
    """A store already logged in to the simulator's cabinet (these tests are not about the login)."""
    if uid not in {a["uid"] for a in sim.state["accounts"].values()}:
        with sim.lock:
            sim.state["accounts"][f"{uid}@sandbox.kaspi.kz"] = {"password": SANDBOX_PASSWORD, "uid": uid, "sms": False}
    cookies = sim.open_session(uid)
    email = SANDBOX_EMAIL if uid == SANDBOX_MERCHANT_UID else f"{uid}@sandbox.kaspi.kz"
    return KaspiStore.objects.create(
        merchant=merchant or MerchantFactory(),
        name=f"Store {uid}",
        merchant_uid=uid,
        cabinet_email=email,
        cabinet_password=SANDBOX_PASSWORD,
        session_state=SessionState.OK,
        session_generation=1,
        session_cookies=json.dumps(
            [{"name": k, "value": v, "domain": "127.0.0.1", "path": "/"} for k, v in cookies.items()]
        ),
    )


def make_products(
    sim: KaspiMarketSimulator, store: KaspiStore, count: int, *, first_card: int = FIRST_CARD, **rule: Any
) -> list[RepricingRule]:
    """``count`` offers on distinct cards, each with a rule (min 1000, max 1,000,000 unless given)."""
    products = KaspiProduct.objects.bulk_create(
        [
            KaspiProduct(
                store=store,
                sku=f"{store.merchant_uid}-SKU-{i:05d}",
                kaspi_product_id=str(first_card + i),
                name=f"Товар {i}",
                price=900_000,
                is_available=True,
                availabilities=[{"storeId": f"{store.merchant_uid}_PP1", "available": "yes"}],
            )
            for i in range(count)
        ]
    )
    for product in products:
        sim.link(uid=store.merchant_uid, sku=product.sku, card=product.kaspi_product_id, price=900_000)
    values = {"min_price": 1000, "max_price": 1_000_000, **rule}
    return RepricingRule.objects.bulk_create([RepricingRule(product=p, **values) for p in products])
