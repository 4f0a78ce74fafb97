"""One product through the repricer against the moving Kaspi simulator, in this process (SPEC REP-2 … REP-5)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
import requests
from django.utils import timezone

from marketplaces.kaspi.clients.offers import CompetitorOffer
from marketplaces.kaspi.models import KaspiProduct
from repricer.decision import price_decide
from repricer.models import Outcome, PriceChange, Proxy, RepricingRule, StoreRepricing
from repricer.services.limits import ip_pause_key, thread_redis_client
from repricer.services.loop import rules_claim_due, rules_process
from repricer.services.reprice import decision_rule
from sandbox.kaspi_market import KaspiMarketSimulator
from sandbox.proxy import ForwardProxy

from .conftest import make_products, make_store

pytestmark = pytest.mark.django_db(transaction=True)


def expected_price(sim: KaspiMarketSimulator, rule: RepricingRule) -> int:
    rule.refresh_from_db()
    product = rule.product
    product.refresh_from_db()
    offers = [
        CompetitorOffer(
            o["merchantId"], o["merchantName"], o["merchantSku"], o["price"], None, o["deliveryDuration"], o
        )
        for o in sim.competitor_offers(product.kaspi_product_id)
    ]
    decision = price_decide(rule=decision_rule(rule, product.store), own_price=product.price, offers=offers)
    return decision.new_price if decision.new_price is not None else int(product.price or 0)


def prices(rules: list[RepricingRule]) -> dict[int, int | None]:
    return dict(KaspiProduct.objects.filter(repricing_rule__in=rules).values_list("pk", "price"))


def test_products_reach_the_expected_prices_reading_every_page_of_offers(market: Callable[..., Any]) -> None:
    sim = market(competitors=70)  # more than one page of 64
    store = make_store(sim)
    rules = make_products(sim, store, 12)
    sim.set_competitors(
        str(rules[0].product.kaspi_product_id), [{"merchantId": f"X{i}", "price": 90_000 - i} for i in range(70)]
    )

    counts = rules_process(rule_ids=[r.pk for r in rules], concurrency=4)

    assert counts == {"applied": 12}
    # The cheapest of the card above sits on the second page (it was 90,000 - 69).
    assert KaspiProduct.objects.get(pk=rules[0].product_id).price == 90_000 - 69 - 1
    for rule in rules:
        product = KaspiProduct.objects.get(pk=rule.product_id)
        assert product.price == sim.own_price(store.merchant_uid, product.sku)
        assert product.price == min(o["price"] for o in sim.competitor_offers(product.kaspi_product_id)) - 1
    assert PriceChange.objects.filter(outcome=Outcome.APPLIED).count() == 12
    assert sim.counter("uploads") == 12


def test_a_batch_starts_no_product_after_its_step_time_and_leaves_the_rest_claimed(market: Callable[..., Any]) -> None:
    """PLAT-14: a batch message must not outlive the broker's visibility timeout, however slow the
    paced calls get: after SYNC_STEP_SECONDS it starts nothing new, and what it left is handed back —
    due at once for the next schedule tick, not parked for the claim's whole lease, never lost."""
    sim = market(competitors=3)
    rules = make_products(sim, make_store(sim), 6)
    ids = [r.pk for r in rules]
    claimed = rules_claim_due()
    assert set(ids) <= set(claimed)
    assert not rules_claim_due()  # claimed: leased a while ahead
    assert rules_process(rule_ids=ids, concurrency=2, seconds=0) == {"left": 6}
    assert sim.counter("offers") == 0  # nothing was started
    assert set(rules_claim_due()) == set(ids)  # handed back: due again at once
    assert rules_process(rule_ids=ids, concurrency=2) == {"applied": 6}


def test_uploads_stay_within_kaspis_per_merchant_limit(market: Callable[..., Any]) -> None:
    sim = market(competitors=3, upload_rate_per_merchant=2)  # Kaspi: ~2/s, the repricer keeps 1.5/s
    rules = make_products(sim, make_store(sim), 6)
    assert rules_process(rule_ids=[r.pk for r in rules], concurrency=6) == {"applied": 6}
    assert sim.counter("uploads_429") == 0


def test_a_second_check_with_nothing_moved_writes_nothing(market: Callable[..., Any]) -> None:
    sim = market(competitors=10)
    rules = make_products(sim, make_store(sim), 5)
    rules_process(rule_ids=[r.pk for r in rules], concurrency=2)
    before = (sim.counter("uploads"), PriceChange.objects.count())

    # Our own offers are now the cheapest on every card: they must not be undercut.
    assert rules_process(rule_ids=[r.pk for r in rules], concurrency=2) == {"unchanged": 5}
    assert (sim.counter("uploads"), PriceChange.objects.count()) == before


def test_competitors_raising_their_prices_pull_ours_up(market: Callable[..., Any]) -> None:
    sim = market(competitors=3)
    rules = make_products(sim, make_store(sim), 1)
    card = rules[0].product.kaspi_product_id
    sim.set_competitors(card, [{"merchantId": "A", "price": 5000}, {"merchantId": "B", "price": 6000}])
    rules_process(rule_ids=[rules[0].pk])
    assert KaspiProduct.objects.get(pk=rules[0].product_id).price == 4999

    sim.set_competitors(card, [{"merchantId": "A", "price": 7000}, {"merchantId": "B", "price": 8000}])
    rules_process(rule_ids=[rules[0].pk])
    assert KaspiProduct.objects.get(pk=rules[0].product_id).price == 6999
    assert list(
        PriceChange.objects.filter(product_id=rules[0].product_id).order_by("id").values_list("new_price", flat=True)
    ) == [4999, 6999]


def test_reacting_competitors_are_followed_over_several_cycles(market: Callable[..., Any], settings: Any) -> None:
    sim = market(competitors=8, move_probability=0.6, leave_probability=0.1)
    # Up to 75 uploads, each a cabinet call: over 30 s at the cabinet's real 2/s. This test is about the
    # prices followed, not the pace (tests/marketplaces/kaspi/test_pace.py's and the upload tests' here).
    settings.KASPI_CABINET_RATE_PER_SECOND = 1000.0
    rules = make_products(sim, make_store(sim), 15)
    ids = [r.pk for r in rules]
    for _ in range(4):
        rules_process(rule_ids=ids, concurrency=4)
        sim.tick()
    rules_process(rule_ids=ids, concurrency=4)
    for rule in rules:
        assert KaspiProduct.objects.get(pk=rule.product_id).price == expected_price(sim, rule)


def test_dry_run_decides_and_records_but_uploads_nothing(market: Callable[..., Any]) -> None:
    sim = market(competitors=5)
    store = make_store(sim)
    rules = make_products(sim, store, 4)
    StoreRepricing.objects.create(store=store, dry_run=True)

    assert rules_process(rule_ids=[r.pk for r in rules]) == {"dry_run": 4}
    assert sim.counter("uploads") == 0
    assert set(prices(rules).values()) == {900_000}
    assert PriceChange.objects.filter(outcome=Outcome.DRY_RUN).count() == 4


def test_a_failing_product_pushes_back_only_its_own_next_check(market: Callable[..., Any]) -> None:
    sim = market(competitors=5)
    rules = make_products(sim, make_store(sim), 6)
    bad = rules[2]
    sim.market_control_values = None
    with sim.lock:
        sim.state["failing_cards"] = {bad.product.kaspi_product_id}

    counts = rules_process(rule_ids=[r.pk for r in rules], concurrency=3)

    assert counts == {"applied": 5, "error": 1}
    bad.refresh_from_db()
    assert bad.consecutive_failures == 1 and "500" in bad.last_error
    assert bad.next_check_at > timezone.now() + timedelta(seconds=bad.check_interval_seconds)
    assert bad.processing_until is None


def test_a_429_pauses_only_that_merchant_and_is_never_retried_into(market: Callable[..., Any], caplog: Any) -> None:
    sim = market(competitors=5)
    banned, fine = make_store(sim, uid="30100011"), make_store(sim, uid="30100012")
    banned_rules, fine_rules = make_products(sim, banned, 5), make_products(sim, fine, 5, first_card=600_000_000)
    with sim.lock:
        sim.state["merchant_bans"]["30100011"] = 10**12

    with caplog.at_level(logging.WARNING, logger="repricer.services.reprice"):
        counts = rules_process(rule_ids=[r.pk for r in banned_rules + fine_rules], concurrency=1)

    assert counts["applied"] == 5
    assert sim.counter("uploads_429") == 1  # the first 429 paused the merchant; nothing went into it again
    # Each failed upload is logged with the reason its history row keeps (the first 429, then the pause).
    failed = PriceChange.objects.filter(rule__in=banned_rules, outcome=Outcome.FAILED)
    assert failed.count() == 5
    logged = [r.getMessage() for r in caplog.records if "upload of product" in r.getMessage()]
    assert len(logged) == 5
    for change in failed:
        said = f"product {change.product_id} at {change.new_price} failed"
        assert any(said in m and change.error in m for m in logged)
    switches = StoreRepricing.objects.get(store=banned)
    assert switches.rate_limited_until and switches.rate_limited_until > timezone.now() + timedelta(minutes=29)
    assert not StoreRepricing.objects.get(store=fine).rate_limited_until
    # Its products are not claimed again while the pause lasts; the other store's are.
    RepricingRule.objects.update(next_check_at=timezone.now() - timedelta(seconds=1))
    claimed = set(rules_claim_due())
    assert claimed == {r.pk for r in fine_rules}


def test_a_403_pauses_that_ip_for_everyone(market: Callable[..., Any], settings: Any) -> None:
    sim = market(competitors=5, offers_rate_per_ip=2, ip_ban_seconds=30)
    settings.REPRICER_OFFERS_RATE_PER_IP = 50.0  # deliberately above what this fake Kaspi allows
    rules = make_products(sim, make_store(sim), 6)

    counts = rules_process(rule_ids=[r.pk for r in rules], concurrency=1)

    assert counts["deferred"] >= 1
    assert thread_redis_client().pttl(ip_pause_key("direct")) > 10_000  # ms
    assert sim.counter("offers_403") == 1  # after the first 403 nobody used that IP again


def test_proxies_share_the_offers_round_robin_within_each_ips_limit(market: Callable[..., Any], settings: Any) -> None:
    sim = market(competitors=5, offers_rate_per_ip=10)
    settings.REPRICER_OFFERS_RATE_PER_IP = 8.0
    proxies = [ForwardProxy(source_ip=f"127.0.0.{n}").start() for n in (2, 3, 4)]
    try:
        for n, proxy in enumerate(proxies):
            Proxy.objects.create(label=f"p{n}", url=proxy.url)
        rules = make_products(sim, make_store(sim), 30)
        counts = rules_process(rule_ids=[r.pk for r in rules], concurrency=6)
    finally:
        for proxy in proxies:
            proxy.stop()
    assert counts == {"applied": 30}
    per_ip = sim.market_stats()["offers_per_ip"]
    assert set(per_ip) == {"127.0.0.2", "127.0.0.3", "127.0.0.4"}
    assert all(8 <= n <= 12 for n in per_ip.values())
    assert sim.counter("offers_403") == 0
    assert sorted(Proxy.objects.values_list("use_count", flat=True)) == sorted(per_ip.values())


def test_a_store_bound_proxy_serves_only_that_store(market: Callable[..., Any]) -> None:
    sim = market(competitors=3)
    proxies = [ForwardProxy(source_ip=f"127.0.0.{n}").start() for n in (5, 6)]
    try:
        bound_store, other = make_store(sim, uid="30100021"), make_store(sim, uid="30100022")
        Proxy.objects.create(label="bound", url=proxies[0].url, store=bound_store)
        Proxy.objects.create(label="shared", url=proxies[1].url)
        rules = make_products(sim, bound_store, 3) + make_products(sim, other, 3, first_card=700_000_000)
        rules_process(rule_ids=[r.pk for r in rules], concurrency=2)
    finally:
        for proxy in proxies:
            proxy.stop()
    assert sim.market_stats()["offers_per_ip"] == {"127.0.0.5": 3, "127.0.0.6": 3}


def test_a_failing_proxy_is_quarantined_and_released_by_time(market: Callable[..., Any], settings: Any) -> None:
    sim = market(competitors=3)
    settings.REPRICER_PROXY_FAILURES_TO_QUARANTINE = 2
    dead = Proxy.objects.create(label="dead", url="http://127.0.0.1:9")  # nothing listens there
    rules = make_products(sim, make_store(sim), 3)
    rules_process(rule_ids=[r.pk for r in rules], concurrency=1)
    dead.refresh_from_db()
    assert dead.quarantined_until is not None and dead.quarantined_until > timezone.now()
    assert dead.failure_count == 2
    # While quarantined, with no other proxy, nothing goes out directly either: products wait.
    RepricingRule.objects.update(next_check_at=timezone.now())
    assert rules_process(rule_ids=[rules[2].pk]) == {"deferred": 1}
    Proxy.objects.filter(pk=dead.pk).update(quarantined_until=timezone.now() - timedelta(seconds=1))
    from repricer.services.proxies import proxy_routes

    assert [r.proxy_id for r in proxy_routes(store=rules[0].product.store, fresh=True)[0]] == [dead.pk]


def test_a_product_held_by_another_worker_is_skipped(market: Callable[..., Any]) -> None:
    sim = market(competitors=3)
    rules = make_products(sim, make_store(sim), 1)
    RepricingRule.objects.filter(pk=rules[0].pk).update(processing_until=timezone.now() + timedelta(minutes=1))
    assert rules_process(rule_ids=[rules[0].pk]) == {"skipped": 1}
    assert sim.counter("offers") == 0


def test_an_uploaded_price_shows_in_the_cabinet_offer_list_too(market: Callable[..., Any]) -> None:

    sim = market(offers=3, competitors=3)
    store = make_store(sim)
    item = sim.state["offers"][store.merchant_uid][0]
    product = KaspiProduct.objects.create(
        store=store, sku=item["sku"], kaspi_product_id=item["shopLink"].rsplit("-", 1)[1].split("/")[0],
        price=item["minPrice"],
    )  # fmt: skip
    rule = RepricingRule.objects.create(product=product, min_price=10, max_price=10_000_000)
    assert rules_process(rule_ids=[rule.pk]) == {"applied": 1}
    cookies = "; ".join(f"{c['name']}={c['value']}" for c in json.loads(str(store.session_cookies)))
    listed = requests.get(
        f"{sim.base_url}/bff/offer-view/list", params={"m": store.merchant_uid, "p": 0, "l": 10, "a": "true"},
        headers={"Cookie": cookies, "x-auth-version": "3"}, timeout=10,
    ).json()["data"]  # fmt: skip
    assert (
        next(o for o in listed if o["sku"] == item["sku"])["minPrice"] == KaspiProduct.objects.get(pk=product.pk).price
    )


def test_an_expired_cabinet_session_is_renewed_by_the_kaspi_login_and_the_upload_goes_through(
    market: Callable[..., Any], settings: Any
) -> None:
    from tests.e2e.conftest import chromium_path

    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium not found: apt-get install -y chromium (or set CHROMIUM_EXECUTABLE)")
    settings.CHROMIUM_EXECUTABLE = chromium
    settings.KASPI_LOGIN_TIMEOUT_SECONDS = 30.0
    sim = market(competitors=3)
    store = make_store(sim)
    rules = make_products(sim, store, 1)
    sim.expire_sessions()  # the stored cookies are dead: the upload gets a 401

    assert rules_process(rule_ids=[rules[0].pk]) == {"applied": 1}
    assert sim.logins == 1
    store.refresh_from_db()
    assert store.session_generation == 2
    assert (
        sim.own_price(store.merchant_uid, rules[0].product.sku)
        == KaspiProduct.objects.get(pk=rules[0].product_id).price
    )


def test_uploads_waiting_for_the_same_relogin_are_still_paced_afterwards(
    market: Callable[..., Any], settings: Any
) -> None:
    from tests.e2e.conftest import chromium_path

    chromium = chromium_path()
    if chromium is None:
        pytest.skip("Chromium not found: apt-get install -y chromium (or set CHROMIUM_EXECUTABLE)")
    settings.CHROMIUM_EXECUTABLE = chromium
    sim = market(competitors=3, upload_rate_per_merchant=2)  # Kaspi's limit; the repricer keeps 1.5/s
    store = make_store(sim)
    rules = make_products(sim, store, 6)
    sim.expire_sessions()  # every thread's first upload gets a 401 and waits for one login

    assert rules_process(rule_ids=[r.pk for r in rules], concurrency=6) == {"applied": 6}
    assert sim.logins == 1
    assert sim.counter("uploads_429") == 0


def test_an_upload_is_paced_by_the_upload_pace_alone_not_also_by_the_cabinets(
    market: Callable[..., Any],
) -> None:
    """The send deadline is the last grant's: paced by the cabinet's pacer (2/s) after the upload's
    (1.5/s), an upload left on the cabinet's next slot — with other cabinet calls of the merchant
    taking slots, on the cabinet's 0.5 s spacing, at Kaspi's 2/s upload limit (a 429 bans the merchant
    for 30 minutes). Seen once under `make test-stress` as a 429 after a re-login."""
    from marketplaces.kaspi.services.session import cabinet_client

    sim = market(competitors=3, upload_rate_per_merchant=2)
    store = make_store(sim)
    product = make_products(sim, store, 1)[0].product
    paced: list[str] = []
    cabinet = cabinet_client(store)
    cabinet.before_request = lambda: paced.append("cabinet")
    job = cabinet.upload_price(
        merchant_uid=store.merchant_uid,
        sku=product.sku,
        model=product.sku,
        price=1000,
        city_id="750000000",
        before_request=lambda: paced.append("upload"),
    )
    assert job and paced == ["upload"]


def test_a_batch_reads_each_store_about_once_a_second_and_sees_a_pause_after_it(
    market: Callable[..., Any], django_assert_num_queries: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from repricer.services.reprice import Stores

    sim = market(competitors=3)
    store = make_store(sim)
    make_products(sim, store, 2)
    StoreRepricing.objects.create(store=store)
    stores = Stores()
    with django_assert_num_queries(1):  # the store with its switches, in one query
        assert stores.get({store.pk})[store.pk].repricing.is_paused is False
    StoreRepricing.objects.filter(store=store).update(is_paused=True)
    with django_assert_num_queries(0):  # the next chunks of the batch: no query
        assert stores.get({store.pk})[store.pk].repricing.is_paused is False
    monkeypatch.setattr(Stores, "FRESH_SECONDS", 0.0)  # a second later
    with django_assert_num_queries(1):
        assert stores.get({store.pk})[store.pk].repricing.is_paused is True


def test_time_held_at_the_floor_is_kept_while_competitors_stay_below_it(market: Callable[..., Any]) -> None:
    """SPEC OWN-3 "a price held at its floor": the rule remembers since when every check wanted a
    price under the floor — the first such check, not the latest — and forgets it once one does not."""
    sim = market(competitors=3)
    rule = make_products(sim, make_store(sim), 1)[0]
    card = rule.product.kaspi_product_id
    RepricingRule.objects.filter(pk=rule.pk).update(min_price=5000, max_price=9000)
    sim.set_competitors(card, [{"merchantId": "A", "price": 4000}])
    rules_process(rule_ids=[rule.pk])  # moved down to the floor
    rule.refresh_from_db()
    since = rule.at_floor_since
    assert since is not None and KaspiProduct.objects.get(pk=rule.product_id).price == 5000

    RepricingRule.objects.filter(pk=rule.pk).update(next_check_at=timezone.now())
    rules_process(rule_ids=[rule.pk])  # held there
    rule.refresh_from_db()
    assert rule.last_reason == "floor" and rule.at_floor_since == since

    sim.set_competitors(card, [{"merchantId": "A", "price": 7000}])
    rules_process(rule_ids=[rule.pk])  # competitors rose above it: off the floor
    rule.refresh_from_db()
    assert rule.at_floor_since is None and KaspiProduct.objects.get(pk=rule.product_id).price == 6999
