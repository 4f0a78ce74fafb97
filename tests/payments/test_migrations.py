"""Data migrations run against the real schema: migrate back, seed old-shaped rows, migrate forward."""

from __future__ import annotations

import pytest

from tests.support.migrations import latest_nodes
from tests.support.migrations import migrate_to as _migrate

pytestmark = [pytest.mark.django_db(transaction=True)]


def test_0003_links_existing_deliveries_to_their_payment(shop) -> None:
    from payments.services.orders import order_create

    order = order_create(device=shop.device, drink=shop.drink, size="small").order
    pid = order.payment.provider_payment_id
    latest = latest_nodes()
    try:
        old = _migrate([("payments", "0002_brew_published_at")])
        Delivery = old.get_model("payments", "WebhookDelivery")
        Delivery.objects.create(
            provider="yookassa",
            event_key=f"payment.succeeded:{pid}",
            event="payment.succeeded",
            provider_payment_id=pid,
        )
        Delivery.objects.create(
            provider="yookassa",
            event_key="payment.succeeded:gone",
            event="payment.succeeded",
            provider_payment_id="gone",
        )
        new = _migrate([("payments", "0003_delivery_payment")])
        linked = dict(
            new.get_model("payments", "WebhookDelivery").objects.values_list("provider_payment_id", "payment_id")
        )
        assert linked == {pid: order.payment.pk, "gone": None}
    finally:
        _migrate(latest)


def test_0008_turns_the_deliveries_outcome_into_the_inbox_status(shop) -> None:
    from django.utils import timezone

    latest = latest_nodes()
    try:
        old = _migrate([("payments", "0007_verbose_names")])
        Delivery = old.get_model("payments", "WebhookDelivery")
        common = {"provider": "yookassa", "event": "payment.succeeded", "provider_payment_id": "p"}
        Delivery.objects.create(event_key="a", outcome="applied", note="paid", processed_at=timezone.now(), **common)
        Delivery.objects.create(event_key="i", outcome="ignored", note="noop", processed_at=timezone.now(), **common)
        Delivery.objects.create(event_key="r", outcome="received", **common)
        new = _migrate([("payments", "0008_webhookdelivery_on_core_inbox")])
        rows = new.get_model("payments", "WebhookDelivery").objects.values_list(
            "event_key", "status", "last_error", "attempts"
        )
        assert sorted(rows) == [("a", "processed", "paid", 1), ("i", "ignored", "noop", 1), ("r", "received", "", 0)]
    finally:
        _migrate(latest)
