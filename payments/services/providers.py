"""One face over both providers for the services: create, read, capture, return money."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.urls import reverse

from core.exceptions import IntegrationError
from payments.clients.tbank import TBankClient
from payments.clients.yookassa import YooKassaClient
from payments.models import Order, Payment, PaymentAccount, Provider


@dataclass(frozen=True)
class ProviderPayment:
    provider_payment_id: str
    status: str  # pending | waiting_for_capture | succeeded | canceled
    amount: int
    order_id: str
    confirmation_url: str = ""
    raw: dict[str, Any] | None = None


def account_for(merchant_id: int) -> PaymentAccount:
    account = PaymentAccount.objects.filter(merchant_id=merchant_id).first()
    if account is None:
        raise IntegrationError("merchant has no payment account", service="payments", permanent=True)
    return account


def yookassa(account: PaymentAccount) -> YooKassaClient:
    return YooKassaClient(shop_id=account.yookassa_shop_id, secret_key=account.yookassa_secret_key)


def tbank(account: PaymentAccount) -> TBankClient:
    return TBankClient(terminal_key=account.tbank_terminal_key, password=account.tbank_password)


def public_url(path: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + path


def create(*, order: Order, two_stage: bool, receipt: dict[str, Any] | None) -> ProviderPayment:
    account = account_for(order.merchant_id)
    return_url = public_url(reverse("payments:order-status", args=[order.id]))
    description = f"{order.drink_name} — заказ {str(order.id)[:8]}"
    if order.device.provider == Provider.TBANK:
        tb = tbank(account).init(
            order_id=str(order.id),
            amount=order.amount,
            description=description,
            success_url=return_url,
            notification_url=public_url(reverse("payments:webhook-tbank")),
            two_stage=two_stage,
            receipt=receipt,
        )
        return ProviderPayment(tb.payment_id, tb.normalized_status, order.amount, str(order.id), tb.payment_url)
    yk = yookassa(account).create_payment(
        order_id=str(order.id),
        amount=order.amount,
        description=description,
        return_url=return_url,
        capture=not two_stage,
        receipt=receipt,
    )
    return ProviderPayment(
        yk.id, yk.status, yk.amount, str(yk.metadata.get("order_id", "")), yk.confirmation_url, yk.raw
    )


def fetch(
    *, provider: str, account: PaymentAccount, provider_payment_id: str, timeout: float | None = None
) -> ProviderPayment:
    """Read a payment at its provider. With ``timeout`` the call is a single, bounded attempt (the
    webhook path: the provider redelivers after a 503, a web thread must not wait through retries)."""
    if provider == Provider.TBANK:
        tb = tbank(account).get_state(provider_payment_id, timeout=timeout, retries=0 if timeout is not None else None)
        return ProviderPayment(tb.payment_id, tb.normalized_status, tb.amount, tb.order_id)
    yk = yookassa(account).get_payment(provider_payment_id, timeout=timeout)
    return ProviderPayment(yk.id, yk.status, yk.amount, str(yk.metadata.get("order_id", "")), raw=yk.raw)


def capture(payment: Payment) -> str:
    account = account_for(payment.order.merchant_id)
    if payment.provider == Provider.TBANK:
        return tbank(account).confirm(payment.provider_payment_id or "").status
    return (
        yookassa(account)
        .capture(payment.provider_payment_id or "", amount=payment.amount, key=f"yk-capture-{payment.order_id}")
        .status
    )


def give_back(payment: Payment, *, kind: str) -> str:
    """Cancel a hold or refund a captured payment; keyed by the order so a retry is the same call."""
    account = account_for(payment.order.merchant_id)
    pid = payment.provider_payment_id or ""
    if payment.provider == Provider.TBANK:
        tbank(account).cancel(pid, external_request_id=f"tb-return-{payment.order_id}")
        return ""
    if kind == "cancel":
        yookassa(account).cancel(pid, key=f"yk-cancel-{payment.order_id}")
        return ""
    return yookassa(account).refund(pid, amount=payment.amount, key=f"yk-refund-{payment.order_id}").id
