"""One product through the repricer: read offers, decide, upload, record (SPEC REP-2 … REP-4).

``products_reprice`` is what a worker thread runs for each small chunk of claimed products. Protocol
per product:

1. ``rules_start``: one conditional UPDATE per chunk sets ``processing_until`` where it is free and
   returns the ids it took; a product another worker holds is skipped (no product is processed twice
   at once). One SELECT then loads the chunk's rules and products; their stores and switches come
   from the batch's ``Stores`` (each read about once a second). A crash leaves
   the leases, which simply expire; the scheduler's own lease on ``next_check_at`` expires too.
2. Offers of the card in the rule's city through a proxy route (per-IP limiter; a 403 pauses the IP).
3. ``price_decide`` (pure).
4. Upload through the cabinet session (per-merchant limiter; 401 → the Kaspi module re-logs in once;
   429 → the merchant pauses 30 min, never retried); a dry run records and stops before it.
5. The finish: ``next_check_at`` = now + interval (or further after errors), lease cleared. A chunk
   collects its products' finishes and writes them together when the chunk ends (one UPDATE per
   shape of finish); a crash before that leaves only the leases, which expire, so those products are
   simply checked again. The price change itself (history row, upload, product price) is written at
   once, before the upload's answer is acted on.

A failure of one product only pushes back that product's next check. The per-product database work
is batched because the loop is bound by this process's CPU (many threads, one interpreter): PERF-3.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from threading import Lock
from typing import Any

from django.conf import settings
from django.db import connection
from django.utils import timezone

from core.bulk import rows_update
from core.exceptions import IntegrationError, LanePaused
from core.logging import untrusted
from core.transitions import StateTable
from marketplaces.kaspi.clients.cabinet import CabinetClient
from marketplaces.kaspi.clients.errors import KaspiRateLimited, LoginUnavailable
from marketplaces.kaspi.clients.offers import CompetitorOffer, OffersClient
from marketplaces.kaspi.models import KaspiProduct, KaspiStore, SessionState
from marketplaces.kaspi.services.session import SessionUnavailable, with_cabinet

from ..decision import Action, Decision, DecisionRule, Reason, price_decide
from ..models import Outcome, PriceChange, RepricingRule, StoreRepricing
from .limits import ip_pause, ip_pause_key, merchant_pause, offers_limiter, store_settings, upload_limiter
from .proxies import Route, proxy_record, proxy_routes_in_turn

log = logging.getLogger(__name__)

PRICE_CHANGE_OUTCOME = StateTable(
    PriceChange,
    "outcome",
    {
        Outcome.PENDING: {Outcome.APPLIED, Outcome.FAILED},
        Outcome.APPLIED: set(),
        Outcome.FAILED: set(),
        Outcome.HELD: set(),
        Outcome.DRY_RUN: set(),
    },
)


class MerchantPaused(IntegrationError):
    """The merchant is serving a 429 ban: nothing is uploaded until it ends."""


class Result(StrEnum):
    APPLIED = "applied"
    FAILED = "failed"
    HELD = "held"
    DRY_RUN = "dry_run"
    UNCHANGED = "unchanged"
    SKIPPED = "skipped"  # another worker holds it, the store is paused, or outside working hours
    DEFERRED = "deferred"  # no usable IP right now (403 pause): checked again shortly
    ERROR = "error"


def decision_rule(rule: RepricingRule, store: KaspiStore) -> DecisionRule:
    ignored = {str(m) for m in (rule.ignored_merchant_ids or []) if m}
    if store.merchant_uid:
        ignored.add(store.merchant_uid)
    return DecisionRule(
        min_price=rule.min_price,
        max_price=rule.max_price,
        step=rule.step,
        strategy=rule.strategy,
        top_n=rule.top_n,
        ignored_merchant_ids=frozenset(ignored),
        max_delivery_days=rule.max_delivery_days,
        max_change_percent=rule.max_change_percent,
    )


# --- outgoing offers clients: thin per-route wrappers over the one pooled ``kaspi-offers`` client ------


def offers_client(route: Route) -> OffersClient:
    """The route's pacer (``LanePaused`` while its IP rests) and its proxy ride on each request; the
    connections are the process's one pooled client's (``core.http.http_client``)."""
    limiter, paused_by = offers_limiter(route.key), ip_pause_key(route.key)

    def before_request() -> None:
        limiter.acquire(timeout=60, paused_by=paused_by)

    return OffersClient(base_url=settings.KASPI_OFFERS_URL, before_request=before_request, proxy=route.url)


# --- the per-product lease ------------------------------------------------------------------------


def rules_start(*, rule_ids: Sequence[int]) -> list[int]:
    """Lease these products where nobody holds them (one conditional UPDATE); return the ids taken."""
    if not rule_ids:
        return []
    now = timezone.now()
    # Raw SQL: the ORM's update() cannot return the ids it updated. The table name is the model's own.
    table = connection.ops.quote_name(RepricingRule._meta.db_table)
    sql = (
        f"UPDATE {table} SET processing_until = %s"  # noqa: S608
        " WHERE id = ANY(%s) AND (processing_until IS NULL OR processing_until < %s) RETURNING id"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [now + timedelta(seconds=settings.REPRICER_LEASE_SECONDS), list(rule_ids), now],
        )
        return [row[0] for row in cursor.fetchall()]


def _finish_values(next_check_at: datetime, fields: dict[str, Any]) -> dict[str, Any]:
    return {"processing_until": None, "next_check_at": next_check_at, "updated_at": timezone.now(), **fields}


class Finishes:
    """The end-of-check writes of a chunk, collected and written together (one UPDATE per shape)."""

    def __init__(self) -> None:
        self.pending: dict[tuple[str, ...], list[tuple[int, dict[str, Any]]]] = {}

    def add(self, *, rule: RepricingRule, next_check_at: datetime, **fields: Any) -> None:
        values = _finish_values(next_check_at, fields)
        self.pending.setdefault(tuple(sorted(values)), []).append((rule.pk, values))

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for names, rows in pending.items():
            rows_update(RepricingRule, rows, names)


def check_interval(rule: RepricingRule) -> timedelta:
    seconds = rule.check_interval_seconds
    if rule.is_priority:
        seconds = min(seconds, settings.REPRICER_PRIORITY_INTERVAL_SECONDS)
    return timedelta(seconds=max(seconds, 1))


def failure_backoff(rule: RepricingRule, failures: int) -> timedelta:
    base = check_interval(rule).total_seconds()
    return timedelta(seconds=min(base * (2 ** min(failures, 16)), settings.REPRICER_MAX_BACKOFF_SECONDS))


def next_working_moment(rule: RepricingRule, now: datetime) -> datetime | None:
    """None inside working hours (or without them); else when they next begin."""
    if rule.work_from is None or rule.work_to is None:
        return None
    local = timezone.localtime(now)
    current = local.time()
    start, end = rule.work_from, rule.work_to
    inside = start <= current < end if start <= end else (current >= start or current < end)
    if inside:
        return None
    day = local.date() if current < start else local.date() + timedelta(days=1)
    return datetime.combine(day, start, tzinfo=local.tzinfo)


# --- the flow ---------------------------------------------------------------------------------------


@dataclass
class _Context:
    rule: RepricingRule
    product: KaspiProduct
    store: KaspiStore
    switches: StoreRepricing
    finishes: Finishes = field(default_factory=Finishes)

    def finish(self, *, next_check_at: datetime, **fields: Any) -> None:
        self.finishes.add(rule=self.rule, next_check_at=next_check_at, **fields)


# Columns a check never reads: not fetched, so not decoded (the cabinet's raw offer JSON can be large).
_NOT_NEEDED = (
    "created_at", "updated_at", "last_error", "product__raw", "product__city_prices", "product__brand",
    "product__category", "product__image_url", "product__shop_link", "product__first_seen_at",
    "product__last_seen_at", "product__updated_at",
)  # fmt: skip


class Stores:
    """The stores of one ``rules_process`` call with their switches, shared by its threads and
    reloaded after ``FRESH_SECONDS``: a store's row is read about once a second, not once per chunk
    (its query, with the switches joined, costs more to build than a chunk's rules). A pause, a dry
    run or a new session reaches a running batch within that second; the upload re-reads the 429
    pause from the database anyway, right before it sends."""

    FRESH_SECONDS = 1.0

    def __init__(self) -> None:
        self._lock = Lock()
        self._loaded: dict[int, tuple[float, KaspiStore]] = {}

    def get(self, store_ids: set[int]) -> dict[int, KaspiStore]:
        now = time.monotonic()
        with self._lock:
            found = {
                pk: hit[1] for pk in store_ids if (hit := self._loaded.get(pk)) and now - hit[0] < self.FRESH_SECONDS
            }
        missing = store_ids - found.keys()
        if missing:
            loaded = KaspiStore.objects.select_related("repricing").in_bulk(missing)
            with self._lock:
                self._loaded.update({pk: (now, store) for pk, store in loaded.items()})
            found.update(loaded)
        return found


def contexts_load(*, rule_ids: Sequence[int], finishes: Finishes, stores: Stores | None = None) -> list[_Context]:
    """The rules with their products, in the order given, and their stores with their switches
    (from ``stores``, or loaded here): one or two queries per chunk."""
    loaded = RepricingRule.objects.select_related("product").defer(*_NOT_NEEDED).filter(pk__in=rule_ids).order_by()
    rules = {rule.pk: rule for rule in loaded}
    by_id = (stores or Stores()).get({rule.product.store_id for rule in rules.values()})
    contexts = []
    for rule_id in rule_ids:
        rule = rules.get(rule_id)
        store = by_id.get(rule.product.store_id) if rule is not None else None
        if rule is None or store is None:
            continue
        rule.product.store = store
        switches = getattr(store, "repricing", None) or store_settings(store)
        contexts.append(_Context(rule=rule, product=rule.product, store=store, switches=switches, finishes=finishes))
    return contexts


def products_reprice(
    *, rule_ids: Sequence[int], dry_run: bool = False, force: bool = False, stores: Stores | None = None
) -> list[Result]:
    """Check and reprice a chunk of products (see the module docstring); one result per id."""
    held = rules_start(rule_ids=rule_ids)
    results = [Result.SKIPPED] * (len(rule_ids) - len(held))
    finishes = Finishes()
    try:
        contexts = contexts_load(rule_ids=held, finishes=finishes, stores=stores)
        results += [Result.SKIPPED] * (len(held) - len(contexts))
        for ctx in contexts:
            results.append(_check(ctx, dry_run=dry_run, force=force))
    finally:
        finishes.flush()
    return results


def _check(ctx: _Context, *, dry_run: bool, force: bool) -> Result:
    rule, now = ctx.rule, timezone.now()
    try:
        return _reprice(ctx, now=now, dry_run=dry_run or ctx.switches.dry_run, force=force)
    except Exception as exc:  # one product's failure never stalls the others
        failures = rule.consecutive_failures + 1
        log.warning("repricer: product %s failed (%s in a row): %s", ctx.product.pk, failures, untrusted(str(exc), 200))
        ctx.finish(
            next_check_at=now + failure_backoff(rule, failures),
            consecutive_failures=failures,
            last_error=_describe(exc)[:2000],
            last_checked_at=now,
        )
        return Result.ERROR


def _describe(exc: BaseException) -> str:
    return str(exc) if isinstance(exc, IntegrationError) else f"{type(exc).__name__}: {exc}"


def _reprice(ctx: _Context, *, now: datetime, dry_run: bool, force: bool) -> Result:
    rule, product, store, switches = ctx.rule, ctx.product, ctx.store, ctx.switches
    if not rule.is_active or not product.is_active or not store.is_active or switches.is_paused:
        ctx.finish(next_check_at=now + check_interval(rule))
        return Result.SKIPPED
    if switches.is_rate_limited(now):
        ctx.finish(next_check_at=switches.rate_limited_until or now)
        return Result.SKIPPED
    opens = None if force else next_working_moment(rule, now)
    if opens is not None:
        ctx.finish(next_check_at=opens)
        return Result.SKIPPED
    if not product.kaspi_product_id:
        raise IntegrationError("the product has no Kaspi card id (shopLink) yet; sync the store's offers")

    routes = proxy_routes_in_turn(store=store)
    if not routes:  # every configured proxy is quarantined: wait rather than expose the server's IP
        ctx.finish(next_check_at=now + timedelta(seconds=settings.REPRICER_IP_PAUSE_SECONDS))
        return Result.DEFERRED
    offers, rests = None, []
    for route in routes:
        try:
            offers = offers_client(route).offers(product_id=product.kaspi_product_id, city_id=rule.city_id)
        except LanePaused as paused:  # this IP rests after a 403: the next one
            rests.append(paused.seconds)
            continue
        except IntegrationError as exc:
            proxy_record(route=route, ok=False, error=_describe(exc))
            if exc.status_code == 403:
                # Kaspi bans this IP for a while: everyone leaves it alone, the product tries another soon.
                ip_pause(route.key)
                ctx.finish(next_check_at=now + timedelta(seconds=settings.REPRICER_IP_PAUSE_SECONDS))
                return Result.DEFERRED
            raise
        proxy_record(route=route, ok=True)
        break
    if offers is None:  # every IP rests: check again when the first is back
        ctx.finish(next_check_at=now + timedelta(seconds=max(min(rests), 1.0)))
        return Result.DEFERRED

    decision = price_decide(rule=decision_rule(rule, store), own_price=product.price, offers=offers)
    return _act(ctx, decision, offers, now=now, dry_run=dry_run)


def _record(ctx: _Context, decision: Decision, outcome: Outcome, *, now: datetime, **fields: Any) -> PriceChange:
    return PriceChange.objects.create(
        rule=ctx.rule,
        product=ctx.product,
        old_price=decision.old_price,
        competitor_best=decision.competitor_best,
        competitors=decision.competitors,
        new_price=decision.new_price if decision.new_price is not None else decision.target,
        reason=str(decision.reason),
        outcome=outcome,
        created_at=now,
        **fields,
    )


def _same_as_last(rule: RepricingRule, decision: Decision) -> bool:
    return (
        rule.last_reason == str(decision.reason)
        and rule.last_competitor_best == decision.competitor_best
        and rule.last_target == decision.target
    )


def _act(ctx: _Context, decision: Decision, offers: list[CompetitorOffer], *, now: datetime, dry_run: bool) -> Result:
    rule = ctx.rule
    done: dict[str, Any] = {
        "last_checked_at": now,
        "last_competitor_best": decision.competitor_best,
        "last_reason": str(decision.reason),
        "last_target": decision.target,
        "at_floor_since": (rule.at_floor_since or now) if decision.reason == Reason.FLOOR else None,
        "consecutive_failures": 0,
        "last_error": "",
    }
    next_check = now + check_interval(rule)
    if decision.action == Action.UNCHANGED:
        ctx.finish(next_check_at=next_check, **done)
        return Result.UNCHANGED
    if decision.action == Action.HOLD or dry_run:
        # Repeated identical holds are one history row, not one per check.
        if not _same_as_last(rule, decision):
            _record(ctx, decision, Outcome.DRY_RUN if dry_run and decision.writes else Outcome.HELD, now=now)
        ctx.finish(next_check_at=next_check, **done)
        return Result.DRY_RUN if dry_run and decision.writes else Result.HELD

    assert decision.new_price is not None
    change = _record(ctx, decision, Outcome.PENDING, now=now)
    done["feed_price"] = decision.new_price  # the XML price list carries it even if the upload fails
    try:
        job = _upload(ctx, decision.new_price)
    except (KaspiRateLimited, MerchantPaused) as exc:
        paused = merchant_pause(store=ctx.store, reason=_describe(exc)) if isinstance(exc, KaspiRateLimited) else None
        _upload_failed(ctx, change, exc)
        switches = paused or StoreRepricing.objects.get(store=ctx.store)
        ctx.finish(next_check_at=switches.rate_limited_until or next_check, **done)
        return Result.FAILED
    except (SessionUnavailable, LoginUnavailable, IntegrationError) as exc:
        _upload_failed(ctx, change, exc)
        failures = rule.consecutive_failures + 1
        done.update(consecutive_failures=failures, last_error=_describe(exc)[:2000])
        ctx.finish(next_check_at=now + failure_backoff(rule, failures), **done)
        return Result.FAILED
    PRICE_CHANGE_OUTCOME.advance(pk=change.pk, to=Outcome.APPLIED, upload_id=job[:64])
    KaspiProduct.objects.filter(pk=ctx.product.pk).update(price=decision.new_price, updated_at=timezone.now())
    ctx.finish(next_check_at=next_check, **done)
    return Result.APPLIED


def _upload_failed(ctx: _Context, change: PriceChange, exc: BaseException) -> None:
    """The price change is recorded failed with its reason, and the reason is logged: an owner reading
    the history and an operator reading the logs see the same cause."""
    reason = _describe(exc)
    PRICE_CHANGE_OUTCOME.advance(pk=change.pk, to=Outcome.FAILED, error=reason[:2000])
    log.warning(
        "repricer: upload of product %s at %s failed: %s", ctx.product.pk, change.new_price, untrusted(reason, 300)
    )


def _upload(ctx: _Context, price: int) -> str:
    store = ctx.store
    if store.session_state == SessionState.NEEDS_RELOGIN:
        raise SessionUnavailable(store.session_reason or "a person must log in again")
    pacer = upload_limiter(store)

    def paced() -> None:
        # Paced per attempt: the repeat after a re-login must not burst out together with every other
        # thread that waited for the same login (Kaspi answers a burst with a 30-minute ban). The
        # upload's own pace is the send's deadline (a paced request is never sent late).
        pacer.acquire(timeout=120)
        # Re-read after waiting: another worker may have just been given a 429.
        if StoreRepricing.objects.filter(store=store, rate_limited_until__gt=timezone.now()).exists():
            raise MerchantPaused(
                "the merchant is paused after a 429; not uploading into the ban", service="kaspi-cabinet"
            )

    def attempt(cabinet: CabinetClient) -> str:
        return cabinet.upload_price(
            before_request=paced,
            merchant_uid=store.merchant_uid,
            sku=ctx.product.sku,
            model=ctx.product.name or ctx.product.sku,
            price=price,
            city_id=ctx.rule.city_id,
            availabilities=_availabilities(ctx.product),
        )

    return with_cabinet(store=store, call=attempt)


def _availabilities(product: KaspiProduct) -> list[dict[str, Any]] | None:
    found = []
    for item in product.availabilities or []:
        if isinstance(item, dict) and item.get("storeId"):
            found.append({"available": item.get("available", "yes"), "storeId": item["storeId"], "stockEnabled": False})
    return found or None
