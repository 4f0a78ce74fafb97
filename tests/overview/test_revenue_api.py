"""SPEC OWN-1: the owner API of the overview, scoped to the caller's merchants; CSV; clear 400s."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from overview.models import RevenueDay
from tests.factories import MerchantFactory, owner_client

from . import helpers

pytestmark = pytest.mark.django_db
URL = "/api/v1/overview/revenue/"


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())


def test_owner_sees_own_channels_per_currency_and_never_another_merchants() -> None:
    client, _, merchant = owner_client()
    day = date(2026, 3, 10)
    helpers.qr_payment(merchant, amount=20_000, status="succeeded", at=at(day))
    helpers.kaspi_order(helpers.kaspi_store(merchant), total=Decimal("9000"), status="COMPLETED", at=at(day))
    other = MerchantFactory()
    helpers.qr_payment(other, amount=99_900, status="succeeded", at=at(day))

    body = client.get(URL, {"date_from": "2026-03-01", "date_to": "2026-03-31"}).json()
    assert body["totals"]["RUB"]["sale"] == {"count": 1, "amount": "200.00"}
    assert body["totals"]["KZT"]["net"] == "9000.00"
    assert {(d["channel"], d["currency"]) for d in body["days"]} == {("qr", "RUB"), ("kaspi", "KZT")}

    assert client.get(URL, {"merchant": other.pk}).status_code == 404
    only_qr = client.get(URL, {"date_from": "2026-03-01", "date_to": "2026-03-31", "channel": "qr"}).json()
    assert [d["channel"] for d in only_qr["days"]] == ["qr"]


def test_csv_has_a_row_per_day_channel_and_currency() -> None:
    client, _, merchant = owner_client()
    day = date(2026, 3, 10)
    payment = helpers.qr_payment(merchant, amount=20_000, status="succeeded", at=at(day))
    helpers.qr_refund(payment, amount=5_000)
    response = client.get(URL, {"date_from": "2026-03-10", "date_to": "2026-03-10", "format": "csv"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert rows == [
        {
            "day": "2026-03-10",
            "channel": "qr",
            "currency": "RUB",
            "sale_count": "1",
            "sale_amount": "200.00",
            "return_count": "1",
            "return_amount": "50.00",
            "cancel_count": "0",
            "cancel_amount": "0.00",
            "open_count": "0",
            "open_amount": "0.00",
            "net": "150.00",
        }
    ]


@pytest.mark.parametrize(
    "params",
    [
        {"date_from": "2026-13-01"},
        {"date_from": "2026-03-10", "date_to": "2026-03-01"},
        {"date_from": "2020-01-01", "date_to": "2026-01-01"},
        {"channel": "cash"},
        {"merchant": "x"},
        {"merchant": str(2**40)},
    ],
)
def test_bad_input_is_a_clear_400(params: dict[str, str]) -> None:
    client, _, _ = owner_client()
    response = client.get(URL, params)
    assert response.status_code == 400
    assert response.json()


def test_anonymous_is_refused() -> None:
    from rest_framework.test import APIClient

    assert APIClient().get(URL).status_code in (401, 403)


DAYS = [date(2026, 3, d) for d in range(1, 6)]
qr_rows = st.lists(
    st.tuples(
        st.sampled_from(DAYS),
        st.integers(1, 100_000),
        st.sampled_from(["pending", "succeeded", "canceled", "waiting_for_capture"]),
        st.one_of(st.none(), st.integers(1, 100_000)),
    ),
    max_size=4,
)
vend_rows = st.lists(st.tuples(st.sampled_from(DAYS), st.integers(-50_000, 50_000), st.integers(0, 23)), max_size=6)
kaspi_rows = st.lists(
    st.tuples(
        st.sampled_from(DAYS),
        st.decimals(0, 100_000, places=2),
        st.sampled_from(["COMPLETED", "RETURNED", "CANCELLED", "APPROVED_BY_BANK", "ACCEPTED_BY_MERCHANT"]),
    ),
    max_size=4,
)
emag_rows = st.lists(
    st.tuples(
        st.sampled_from(DAYS),
        st.lists(st.tuples(st.decimals(0, 1000, places=4), st.integers(0, 5)), max_size=3),
        st.sampled_from([0, 1, 2, 3, 4, 5]),
    ),
    max_size=4,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(qr=qr_rows, vend=vend_rows, kaspi=kaspi_rows, emag=emag_rows)
def test_overview_equals_the_sum_of_the_channel_lists(qr: list, vend: list, kaspi: list, emag: list) -> None:
    """Random rows of every channel: the API's figures are what the channel lists add up to."""
    RevenueDay.objects.all().delete()
    client, _, merchant = owner_client()
    expected: dict[tuple[str, str, str, str], list] = {}

    def add(day: date, channel: str, currency: str, kind: str, count: int, amount: Decimal) -> None:
        fig = expected.setdefault((day.isoformat(), channel, currency, kind), [0, Decimal(0)])
        fig[0] += count
        fig[1] += amount

    for day, amount, status, refund in qr:
        payment = helpers.qr_payment(merchant, amount=amount, status=status, at=at(day))
        if status == "succeeded":
            add(day, "qr", "RUB", "sale", 1, Decimal(amount) / 100)
            if refund is not None:
                helpers.qr_refund(payment, amount=refund)
                add(day, "qr", "RUB", "return", 1, Decimal(refund) / 100)
        elif status == "canceled":
            add(day, "qr", "RUB", "cancel", 1, Decimal(amount) / 100)
    account = helpers.vendista_account(merchant)
    for day, sum_minor, hour in vend:
        helpers.vendista_tx(account, sum_minor=sum_minor, at=at(day, hour), refund=sum_minor < 0)
        add(day, "vendista", "RUB", "return" if sum_minor < 0 else "sale", 1, Decimal(abs(sum_minor)) / 100)
    store = helpers.kaspi_store(merchant)
    for day, total, status in kaspi:
        helpers.kaspi_order(store, total=total, status=status, at=at(day))
        kind = {"COMPLETED": "sale", "RETURNED": "sale", "CANCELLED": "cancel"}.get(status, "open")
        add(day, "kaspi", "KZT", kind, 1, total)
        if status == "RETURNED":
            add(day, "kaspi", "KZT", "return", 1, total)
    emag_account = helpers.emag_account(merchant)
    for day, lines, status in emag:
        helpers.emag_order(emag_account, lines=lines, status=status, at=at(day))
        amount = sum((p * q for p, q in lines), Decimal(0))
        kind = "sale" if status in (4, 5) else "cancel" if status == 0 else "open"
        add(day, "emag", "RON", kind, 1, amount)
        if status == 5:
            add(day, "emag", "RON", "return", 1, amount)

    body = client.get(URL, {"date_from": "2026-03-01", "date_to": "2026-03-31"}).json()
    got = {}
    for line in body["days"]:
        for kind in ("sale", "return", "cancel", "open"):
            fig = line[kind]
            if fig["count"] or Decimal(fig["amount"]):
                got[(line["day"], line["channel"], line["currency"], kind)] = (fig["count"], Decimal(fig["amount"]))
    want = {k: (c, a.quantize(Decimal("0.01"))) for k, (c, a) in expected.items() if c or a.quantize(Decimal("0.01"))}
    assert got == want
