"""Rows of every channel for the overview tests, written the way the domain apps write them."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from marketplaces.emag.models import EmagAccount, EmagOrder, EmagOrderItem
from marketplaces.kaspi.models import KaspiOrder, KaspiStore
from payments.models import Payment, Refund
from tests.factories import OrderFactory, PaymentFactory, TransactionFactory, VendistaAccountFactory
from vending.models import Transaction, VendistaAccount


def qr_payment(merchant: Any, *, amount: int, status: str, at: datetime) -> Payment:
    order = OrderFactory(device__merchant=merchant, amount=amount)
    payment = PaymentFactory(order=order, amount=amount, status=status)
    Payment.objects.filter(pk=payment.pk).update(created_at=at)  # auto_now_add: the day the test wants
    payment.refresh_from_db()
    return payment


def qr_refund(payment: Payment, *, amount: int, status: str = "succeeded") -> Refund:
    return Refund.objects.create(payment=payment, kind="refund", amount=amount, reason="test", status=status)


def vendista_account(merchant: Any) -> VendistaAccount:
    return VendistaAccountFactory(merchant=merchant)


def vendista_tx(account: VendistaAccount, *, sum_minor: int, at: datetime, refund: bool = False) -> Transaction:
    return TransactionFactory(account=account, sum_minor=sum_minor, time=at, is_refund=refund)


def kaspi_store(merchant: Any) -> KaspiStore:
    n = KaspiStore.objects.count()
    return KaspiStore.objects.create(merchant=merchant, name=f"store {n}", merchant_uid=f"uid-{merchant.pk}-{n}")


def kaspi_order(store: KaspiStore, *, total: Decimal, status: str, at: datetime) -> KaspiOrder:
    n = KaspiOrder.objects.count()
    return KaspiOrder.objects.create(
        store=store, kaspi_id=f"k{n}", code=f"c{n}", status=status, total_price=total, creation_date=at
    )


def emag_account(merchant: Any, platform: str = "ro") -> EmagAccount:
    return EmagAccount.objects.create(merchant=merchant, name="emag", platform=platform, api_user="u", api_password="p")


def emag_order(account: EmagAccount, *, lines: list[tuple[Decimal, int]], status: int, at: datetime) -> EmagOrder:
    n = EmagOrder.objects.count()
    order = EmagOrder.objects.create(account=account, emag_id=10_000 + n, status=status, date=at, raw={})
    for i, (price, qty) in enumerate(lines):
        EmagOrderItem.objects.create(order=order, line_id=i + 1, sale_price=price, quantity=qty, status=1, raw={})
    return order
