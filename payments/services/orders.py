"""Order creation (buyer pages, legacy QR entry) and expiry (SPEC PAY-3, PAY-7)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.exceptions import IntegrationError
from core.logging import untrusted
from payments.models import Device, Drink, Order, OrderStatus, Payment, Receipt, Size

from . import providers
from .tmetr_auth import tmetr_client
from .transitions import order_transition

log = logging.getLogger("payments")


class OrderError(Exception):
    """A buyer-facing problem (shown on the error page)."""


@dataclass(frozen=True)
class CreatedOrder:
    order: Order
    confirmation_url: str


def _receipt_payload(order: Order, *, vat_code: int) -> dict[str, object]:
    customer = {"email": order.email} if order.email else {"phone": order.phone}
    value = f"{order.amount // 100}.{order.amount % 100:02d}"
    return {
        "customer": customer,
        "items": [
            {
                "description": order.drink_name[:128],
                "quantity": "1.00",
                "amount": {"value": value, "currency": "RUB"},
                "vat_code": vat_code,
                "payment_subject": "commodity",
                "payment_mode": "full_payment",
            }
        ],
    }


def order_create(*, device: Device, drink: Drink, size: str, email: str = "", phone: str = "") -> CreatedOrder:
    """Create the order and its provider payment; the buyer is then sent to ``confirmation_url``."""
    if not device.is_active or not device.merchant.is_active:
        raise OrderError("device inactive")
    price = drink.price(size)
    if not price or not drink.is_active:
        raise OrderError("drink or size not available")
    order = Order.objects.create(
        merchant=device.merchant,
        device=device,
        drink=drink,
        drink_name=drink.name,
        drink_external_id=drink.external_id,
        size=size,
        amount=price,
        email=email,
        phone=phone,
        expires_at=timezone.now() + timedelta(minutes=settings.ORDER_EXPIRATION_MINUTES),
    )
    return _start_payment(order, vat_code=drink.vat_code)


def order_create_from_machine(
    *, device: Device, drink_no: str, size_index: int, machine_order_id: str, drink_name: str = ""
) -> CreatedOrder:
    """Legacy dynamic QR (/v1/pay): price from Tmetr; a rescan of the same QR reuses the order."""
    existing = Order.objects.filter(device=device, machine_order_id=machine_order_id).select_related("payment").first()
    if existing is not None:
        return _resume(existing)
    if not device.is_active or not device.merchant.is_active:
        raise OrderError("device inactive")
    size = {0: Size.SMALL, 1: Size.MEDIUM, 2: Size.BIG}.get(size_index)
    if size is None:
        raise OrderError("bad size")
    try:
        tmetr = tmetr_client(merchant_id=device.merchant_id)
        price = tmetr.drink_price(device_id=device.external_id, drink_id=drink_no, size=size)
    except IntegrationError as exc:
        log.warning("tmetr price for device %s failed: %s", device.pk, untrusted(str(exc), 200))
        raise OrderError("price unavailable") from exc
    drink = Drink.objects.filter(merchant=device.merchant, external_id=drink_no).first()
    try:
        with transaction.atomic():
            order = Order.objects.create(
                merchant=device.merchant,
                device=device,
                drink=drink,
                drink_name=(drink.name if drink else drink_name) or f"Напиток №{drink_no}",
                drink_external_id=drink_no,
                size=size,
                amount=price,
                machine_order_id=machine_order_id,
                expires_at=timezone.now() + timedelta(minutes=settings.ORDER_EXPIRATION_MINUTES),
            )
    except IntegrityError:  # two scans at once: the other one created it
        return _resume(Order.objects.get(device=device, machine_order_id=machine_order_id))
    return _start_payment(order, vat_code=drink.vat_code if drink else 1)


def _resume(order: Order) -> CreatedOrder:
    payment = Payment.objects.filter(order=order).first()
    url = payment.confirmation_url if payment and order.status == OrderStatus.PENDING else ""
    return CreatedOrder(order=order, confirmation_url=url)


def _start_payment(order: Order, *, vat_code: int) -> CreatedOrder:
    account = providers.account_for(order.merchant_id)
    receipt = None
    if account.issues_receipts and (order.email or order.phone):
        receipt = _receipt_payload(order, vat_code=vat_code)
        Receipt.objects.create(order=order, email=order.email, phone=order.phone, items=receipt["items"])
    payment = Payment.objects.create(
        order=order, provider=order.device.provider, amount=order.amount, two_stage=account.two_stage
    )
    try:
        created = providers.create(order=order, two_stage=account.two_stage, receipt=receipt)
    except IntegrationError as exc:
        log.warning("payment creation for order %s failed: %s", order.pk, untrusted(str(exc), 200))
        order_transition(
            order_id=order.pk,
            to=OrderStatus.NOT_PAID,
            from_=OrderStatus.CREATED,
            note=f"payment creation failed: {exc}",
            error=str(exc)[:500],
        )
        raise OrderError("payment unavailable") from exc
    Payment.objects.filter(pk=payment.pk).update(
        provider_payment_id=created.provider_payment_id,
        confirmation_url=created.confirmation_url,
        status=created.status,
        raw=created.raw or {},
    )
    if receipt is not None:
        Receipt.objects.filter(order=order).update(status=Receipt.Status.SENT)
    order_transition(
        order_id=order.pk,
        to=OrderStatus.PENDING,
        from_=OrderStatus.CREATED,
        note=f"{payment.provider} payment {created.provider_payment_id}",
    )
    order.refresh_from_db()
    return CreatedOrder(order=order, confirmation_url=created.confirmation_url)


def orders_expire(*, now: object = None, limit: int = 500) -> int:
    """created/pending past ``expires_at`` → not_paid. A payment arriving later is given back (PAY-7)."""
    now = now or timezone.now()
    ids = list(
        Order.objects.filter(status__in=[OrderStatus.CREATED, OrderStatus.PENDING], expires_at__lt=now).values_list(
            "pk", flat=True
        )[:limit]
    )
    expired = 0
    for order_id in ids:
        if order_transition(
            order_id=order_id, to=OrderStatus.NOT_PAID, from_=[OrderStatus.CREATED, OrderStatus.PENDING], note="expired"
        ):
            expired += 1
    return expired
