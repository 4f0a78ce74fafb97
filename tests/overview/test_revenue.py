"""SPEC OWN-1: the revenue rollup moves the moment a channel row is stored, whoever writes it."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from marketplaces.emag.models import EmagOrder, EmagOrderItem
from marketplaces.kaspi.models import KaspiOrder
from overview.models import RevenueDay
from overview.services import revenue_rebuild
from payments.models import Payment, Refund
from tests.factories import MerchantFactory
from vending.models import Transaction

from . import helpers

pytestmark = pytest.mark.django_db

DAY = date(2026, 3, 10)


def at(day: date = DAY, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=timezone.get_current_timezone())


def figures(merchant: object) -> dict[tuple[date, str, str, str], tuple[int, Decimal]]:
    return {
        (r.day, r.channel, r.currency, r.kind): (r.count, r.amount)
        for r in RevenueDay.objects.filter(merchant=merchant)
        if r.count or r.amount
    }


def test_captured_qr_payment_is_a_sale_and_a_refund_moves_the_sale_day() -> None:
    merchant = MerchantFactory()
    payment = helpers.qr_payment(merchant, amount=25_000, status="pending", at=at())
    assert figures(merchant) == {}
    Payment.objects.filter(pk=payment.pk).update(status="succeeded")
    assert figures(merchant) == {(DAY, "qr", "RUB", "sale"): (1, Decimal("250.00"))}

    refund = helpers.qr_refund(payment, amount=10_000, status="pending")
    assert (DAY, "qr", "RUB", "return") not in figures(merchant)
    Refund.objects.filter(pk=refund.pk).update(status="succeeded")  # a late refund, stored days later
    assert figures(merchant)[(DAY, "qr", "RUB", "return")] == (1, Decimal("100.00"))


def test_cancelled_hold_is_shown_as_a_cancellation_not_revenue() -> None:
    merchant = MerchantFactory()
    helpers.qr_payment(merchant, amount=9_000, status="canceled", at=at())
    assert figures(merchant) == {(DAY, "qr", "RUB", "cancel"): (1, Decimal("90.00"))}


def test_vendista_bulk_writes_and_a_moved_time_move_the_day() -> None:
    merchant = MerchantFactory()
    account = helpers.vendista_account(merchant)
    helpers.vendista_tx(account, sum_minor=5_000, at=at())
    helpers.vendista_tx(account, sum_minor=-2_000, at=at(), refund=True)
    assert figures(merchant) == {
        (DAY, "vendista", "RUB", "sale"): (1, Decimal("50.00")),
        (DAY, "vendista", "RUB", "return"): (1, Decimal("20.00")),
    }
    # A bulk UPDATE (no ORM save, no signal) moving every row to the next day.
    Transaction.objects.filter(account=account).update(time=at(DAY + timedelta(days=1)))
    assert figures(merchant) == {
        (DAY + timedelta(days=1), "vendista", "RUB", "sale"): (1, Decimal("50.00")),
        (DAY + timedelta(days=1), "vendista", "RUB", "return"): (1, Decimal("20.00")),
    }
    Transaction.objects.filter(account=account).delete()
    assert figures(merchant) == {}


def test_vendista_rows_stored_by_copy_are_counted() -> None:
    merchant = MerchantFactory()
    account = helpers.vendista_account(merchant)
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO vending_transaction (account_id, term_id, vendista_id, time, sum_minor, card_number,"
            " reverse_id, is_refund, raw, synced_at)"
            " SELECT %s, 1, g, %s, 100, '', 0, false, '{}', now() FROM generate_series(1, 500) g",
            [account.pk, at()],
        )
    assert figures(merchant) == {(DAY, "vendista", "RUB", "sale"): (500, Decimal("500.00"))}


def test_kaspi_returned_order_is_a_sale_and_a_return_and_open_orders_are_shown() -> None:
    merchant = MerchantFactory()
    store = helpers.kaspi_store(merchant)
    order = helpers.kaspi_order(store, total=Decimal("15000.00"), status="ACCEPTED_BY_MERCHANT", at=at())
    assert figures(merchant) == {(DAY, "kaspi", "KZT", "open"): (1, Decimal("15000.00"))}
    KaspiOrder.objects.filter(pk=order.pk).update(status="COMPLETED")
    assert figures(merchant) == {(DAY, "kaspi", "KZT", "sale"): (1, Decimal("15000.00"))}
    KaspiOrder.objects.filter(pk=order.pk).update(status="RETURNED")
    assert figures(merchant) == {
        (DAY, "kaspi", "KZT", "sale"): (1, Decimal("15000.00")),
        (DAY, "kaspi", "KZT", "return"): (1, Decimal("15000.00")),
    }
    helpers.kaspi_order(store, total=Decimal("700"), status="CANCELLED", at=at())
    assert figures(merchant)[(DAY, "kaspi", "KZT", "cancel")] == (1, Decimal("700.00"))


def test_emag_order_amount_follows_its_lines_and_status_in_its_own_currency() -> None:
    merchant = MerchantFactory()
    account = helpers.emag_account(merchant, platform="bg")
    order = helpers.emag_order(account, lines=[(Decimal("10.5"), 2), (Decimal("4"), 1)], status=1, at=at())
    assert figures(merchant) == {(DAY, "emag", "BGN", "open"): (1, Decimal("25.0000"))}
    EmagOrder.objects.filter(pk=order.pk).update(status=4)
    assert figures(merchant) == {(DAY, "emag", "BGN", "sale"): (1, Decimal("25.0000"))}
    EmagOrderItem.objects.filter(order=order, line_id=2).update(status=0)  # a line removed later
    assert figures(merchant) == {(DAY, "emag", "BGN", "sale"): (1, Decimal("21.0000"))}
    EmagOrder.objects.filter(pk=order.pk).update(status=5)
    assert figures(merchant)[(DAY, "emag", "BGN", "return")] == (1, Decimal("21.0000"))
    order.delete()
    assert figures(merchant) == {}


def test_rebuild_gives_what_the_triggers_kept() -> None:
    merchant = MerchantFactory()
    helpers.qr_payment(merchant, amount=1_000, status="succeeded", at=at())
    helpers.vendista_tx(helpers.vendista_account(merchant), sum_minor=300, at=at(hour=23))
    helpers.kaspi_order(helpers.kaspi_store(merchant), total=Decimal("5"), status="COMPLETED", at=at(hour=1))
    helpers.emag_order(helpers.emag_account(merchant), lines=[(Decimal("3"), 3)], status=4, at=at())
    kept = figures(merchant)
    RevenueDay.objects.filter(merchant=merchant).delete()
    revenue_rebuild(merchant_id=merchant.pk)
    assert figures(merchant) == kept
    assert len(kept) == 4


def test_days_are_local_dates_of_the_project_time_zone() -> None:
    merchant = MerchantFactory()
    # 23:30 UTC on the 9th is 02:30 on the 10th in Moscow (TIME_ZONE).
    helpers.vendista_tx(helpers.vendista_account(merchant), sum_minor=100, at=datetime(2026, 3, 9, 23, 30, tzinfo=UTC))
    assert list(figures(merchant)) == [(DAY, "vendista", "RUB", "sale")]


def test_vendista_ingest_upsert_that_corrects_a_row_moves_old_and_new_day() -> None:
    """The ingest's INSERT … ON CONFLICT DO UPDATE inside a CTE: both transition tables are counted."""
    merchant = MerchantFactory()
    account = helpers.vendista_account(merchant)
    upsert = """
        WITH ins AS (
          INSERT INTO vending_transaction AS t (account_id, term_id, vendista_id, time, sum_minor, card_number,
              reverse_id, is_refund, raw, synced_at)
          VALUES (%s, 1, 1, %s, %s, '', 0, false, %s, now()), (%s, 1, 2, %s, 700, '', 0, false, '{}', now())
          ON CONFLICT (account_id, term_id, vendista_id) DO UPDATE SET time = EXCLUDED.time,
              sum_minor = EXCLUDED.sum_minor, raw = EXCLUDED.raw
          WHERE t.raw IS DISTINCT FROM EXCLUDED.raw RETURNING 1)
        SELECT count(*) FROM ins"""
    with connection.cursor() as cursor:
        cursor.execute(upsert, [account.pk, at(), 1_000, '{"v": 1}', account.pk, at()])
        assert figures(merchant) == {(DAY, "vendista", "RUB", "sale"): (2, Decimal("17.00"))}
        later = DAY + timedelta(days=1)
        cursor.execute(upsert, [account.pk, at(later), 4_000, '{"v": 2}', account.pk, at()])
    assert figures(merchant) == {
        (DAY, "vendista", "RUB", "sale"): (1, Decimal("7.00")),
        (later, "vendista", "RUB", "sale"): (1, Decimal("40.00")),
    }
