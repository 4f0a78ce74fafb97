"""Daily rollups equal a brute-force aggregation of the raw rows (property test, SPEC VEN-4)."""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.factories import MerchantFactory
from vending import services
from vending.clients.vendista import RawTransactionPage
from vending.models import DailyRollup, Transaction, VendistaAccount

BASE = datetime(2026, 3, 28, 18, 0)  # spans a few local midnights

item_strategy = st.fixed_dictionaries(
    {
        "term_id": st.integers(min_value=1, max_value=4),
        "minutes": st.integers(min_value=0, max_value=4 * 24 * 60),
        "sum": st.integers(min_value=-20_000, max_value=50_000),
        "reverse": st.booleans(),
    }
)


def brute_force(account: VendistaAccount) -> dict[tuple[int, date], tuple[int, int, int, int]]:
    out: dict[tuple[int, date], list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for tx in Transaction.objects.filter(account=account):
        key = (tx.term_id, tx.time.astimezone(ZoneInfo(account.time_zone)).date())
        refund = tx.sum_minor <= 0 or tx.reverse_id != 0
        if refund:
            out[key][2] += 1
            out[key][3] += abs(tx.sum_minor)
        else:
            out[key][0] += tx.sum_minor
            out[key][1] += 1
    return {k: tuple(v) for k, v in out.items()}  # type: ignore[misc]


def rollups(account: VendistaAccount) -> dict[tuple[int, date], tuple[int, int, int, int]]:
    return {
        (r.term_id, r.day): (r.revenue_gross, r.transactions_count, r.refunds_count, r.refunds_sum)
        for r in DailyRollup.objects.filter(account=account)
    }


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    first=st.lists(item_strategy, min_size=0, max_size=40),
    second=st.lists(item_strategy, min_size=0, max_size=40),
    zone=st.sampled_from(["Europe/Moscow", "Asia/Almaty", "Europe/Bucharest", "UTC"]),
)
def test_rollups_equal_brute_force_after_any_sequence_of_pages(first, second, zone) -> None:
    account = VendistaAccount.objects.create(merchant=MerchantFactory(), name="prop", time_zone=zone)

    def page(items: list[dict], offset: int) -> RawTransactionPage:
        body = [
            {
                "id": offset + n if n % 3 else n,  # every third id repeats across pages: an update
                "term_id": it["term_id"],
                "time": (BASE + timedelta(minutes=it["minutes"])).strftime("%Y-%m-%d %H:%M:%S.123"),
                "sum": it["sum"],
                "reverse_id": 77 if it["reverse"] else 0,
                "machine_item": [{"machine_item_id": 1}],
                "status": 1,
                "result": 1,
                "card_number": "x",
            }
            for n, it in enumerate(items)
        ]
        text = json.dumps(
            {"page_number": 1, "items_per_page": 100, "items_count": len(body), "items": body, "success": True}
        )
        return RawTransactionPage(page=1, requested_size=100, body=text, items_count=len(body))

    for items, offset in ((first, 1000), (second, 2000)):
        result, last = services.transactions_ingest_raw_page(account=account, page=page(items, offset))
        assert last
        services.rollups_rebuild(account=account, days=result.days or set())
    assert rollups(account) == brute_force(account)


@pytest.mark.django_db
def test_a_nul_escape_in_a_page_does_not_lose_the_page() -> None:
    """PostgreSQL's jsonb cannot hold U+0000; one such character used to fail the whole page."""
    account = VendistaAccount.objects.create(merchant=MerchantFactory(), name="nul", time_zone="Europe/Moscow")
    items = [
        {"id": n, "term_id": 1, "time": "2025-03-01 10:00:00.000", "sum": 100, "reverse_id": 0, "card_number": card}
        for n, card in enumerate(["12\u000034", "a\\u0000b", "ok"])
    ]
    text = json.dumps({"page_number": 1, "items_per_page": 100, "items_count": 3, "items": items, "success": True})
    assert "\\u0000" in text  # the escaped form, as the API sends it
    result, last = services.transactions_ingest_raw_page(
        account=account, page=RawTransactionPage(page=1, requested_size=100, body=text, items_count=3)
    )
    assert last and result.inserted == 3
    cards = dict(Transaction.objects.filter(account=account).values_list("vendista_id", "card_number"))
    assert cards == {0: "1234", 1: "a\\u0000b", 2: "ok"}  # the NUL dropped; a literal backslash-u0000 kept
