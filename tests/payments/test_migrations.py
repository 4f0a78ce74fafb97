"""Data migrations run against the real schema: migrate back, seed old-shaped rows, migrate forward."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = [pytest.mark.django_db(transaction=True)]


def _migrate(target: list[tuple[str, str]]):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(target)
    return executor.loader.project_state(target).apps


def test_0003_links_existing_deliveries_to_their_payment(shop) -> None:
    from payments.services.orders import order_create

    order = order_create(device=shop.device, drink=shop.drink, size="small").order
    pid = order.payment.provider_payment_id
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes("payments")
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
