"""Order sync, upstream changes and cancellations, codes as data, validation before writes (MKT-2, MKT-3)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from core.models import SyncRun
from marketplaces.emag import codes
from marketplaces.emag.clients.emag import EmagValidationError
from marketplaces.emag.models import EmagOrder, EmagOrderItem
from marketplaces.emag.services import orders, validation

pytestmark = pytest.mark.django_db


def test_sweep_stores_every_field_and_acknowledges_new_orders(emag, make_account) -> None:
    sim = emag(orders=7)
    account = make_account(sim)
    run = orders.orders_sync(account=account)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert EmagOrder.objects.filter(account=account).count() == 7
    assert run.counters["acknowledged"] == 7
    assert all(o["status"] == 2 for o in sim.state["orders"].values())  # acknowledged at eMAG
    order = EmagOrder.objects.get(emag_id=500_000_005)
    raw = sim.state["orders"][500_000_005]
    assert order.status == EmagOrder.Status.IN_PROGRESS and order.acknowledged_at is not None
    assert order.shipping_tax == Decimal("19.99")
    assert order.shipping_tax_voucher_split == raw["shipping_tax_voucher_split"] != []
    assert order.vouchers == raw["vouchers"] and order.customer["name"] == raw["customer"]["name"]
    assert order.details == raw["details"] and order.is_storno is False and order.type == 3
    assert order.payment_mode_label == "cash on delivery"
    assert order.items.count() == len(raw["products"])
    assert order.raw["id"] == raw["id"]


def test_orders_changed_or_cancelled_upstream_are_updated_never_duplicated(emag, make_account) -> None:
    sim = emag(orders=5)
    account = make_account(sim)
    orders.orders_sync(account=account)
    first, second = sorted(sim.state["orders"])[:2]
    first_line = sim.state["orders"][first]["products"][0]["id"]
    quantity_before = EmagOrderItem.objects.get(order__emag_id=first, line_id=first_line).quantity
    sim.edit_order(first)
    sim.cancel_order(second, reason=1)
    run = orders.orders_sync(account=account)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert EmagOrder.objects.filter(account=account).count() == 5
    assert EmagOrderItem.objects.filter(order__account=account).count() == sum(
        len(o["products"]) for o in sim.state["orders"].values()
    )
    line = sim.state["orders"][first]["products"][0]
    stored = EmagOrderItem.objects.get(order__emag_id=first, line_id=line["id"])
    assert stored.quantity == line["quantity"] != quantity_before
    cancelled = EmagOrder.objects.get(emag_id=second)
    assert cancelled.status == EmagOrder.Status.CANCELED and cancelled.cancellation_reason_label == "out of stock"


def test_an_order_cancelled_before_acknowledgement_is_stored_cancelled(emag, make_account) -> None:
    sim = emag()
    order = sim.add_order()
    sim.cancel_order(order["id"], reason=23)
    account = make_account(sim)
    orders.orders_sync(account=account)
    stored = EmagOrder.objects.get(emag_id=order["id"])
    assert stored.status == EmagOrder.Status.CANCELED and stored.acknowledged_at is None


def test_an_unknown_cancellation_code_is_kept_and_shown_as_unknown(emag, make_account) -> None:
    sim = emag()
    order = sim.add_order(status=0, cancellation_reason=57)
    account = make_account(sim)
    run = orders.orders_sync(account=account)
    assert run.status == SyncRun.Status.SUCCEEDED
    stored = EmagOrder.objects.get(emag_id=order["id"])
    assert stored.cancellation_reason == 57
    assert stored.cancellation_reason_label == "unknown (57)"


def test_every_listed_cancellation_reason_has_a_text() -> None:
    listed = [1, 2, 3, *range(15, 40)]
    assert sorted(codes.CANCELLATION_REASONS) == listed
    assert all(not codes.cancellation_reason_label(c).startswith("unknown") for c in listed)
    assert codes.payment_mode_label(9) == "unknown (9)" and codes.status_label(3) == "prepared"


def test_validation_refuses_a_bad_order_before_any_request(emag, make_account) -> None:
    sim = emag(orders=1)
    account = make_account(sim)
    orders.orders_sync(account=account)
    order = EmagOrder.objects.get(account=account)
    before = sim.requests_received()
    bad_lines = [{**line, "quantity": -1, "sale_price": "abc"} for line in order.raw["products"]]
    with pytest.raises(EmagValidationError) as caught:
        orders.order_update(order=order, changes={"products": bad_lines, "status": 7})
    assert {"status", "products[0].quantity", "products[0].sale_price"} <= set(caught.value.fields)
    with pytest.raises(EmagValidationError) as caught:
        orders.order_cancel(order=order, reason=0)
    assert "reason" in caught.value.fields
    with pytest.raises(EmagValidationError) as caught:
        orders.orders_bulk_save(account=account, orders=[order.raw, {"id": -4, "status": 1, "products": []}])
    assert "orders[1].id" in caught.value.fields and "orders[1].products" in caught.value.fields
    with pytest.raises(EmagValidationError):
        orders.order_acknowledge(order=order)  # already in progress
    assert sim.requests_received() == before


def test_a_valid_cancel_is_saved_whole_and_read_back(emag, make_account) -> None:
    sim = emag(orders=1)
    account = make_account(sim)
    orders.orders_sync(account=account)
    order = EmagOrder.objects.get(account=account)
    order = orders.order_cancel(order=order, reason=1)
    assert order.status == EmagOrder.Status.CANCELED and order.cancellation_reason == 1
    upstream = sim.state["orders"][order.emag_id]
    assert upstream["status"] == 0 and upstream["products"] == order.raw["products"]


def test_validation_accepts_what_emag_sent() -> None:
    order = {
        "id": 1,
        "status": 0,
        "cancellation_reason": 57,
        "payment_mode_id": 8,
        "products": [{"id": 3, "quantity": 0, "sale_price": "1.5", "status": 0}],
    }
    assert validation.order_errors(order) == {}
    assert validation.offer_errors({"id": 1, "sale_price": "5"}, min_price=Decimal("4"), max_price=Decimal("6")) == {}
    assert "sale_price" in validation.offer_errors({"id": 1, "sale_price": "7"}, min_price=4, max_price=6)


def test_sweep_all_closes_abandoned_runs_and_queues_one_per_account(make_account, monkeypatch) -> None:
    account = make_account()
    make_account(is_active=False)
    abandoned = orders.sync_request(account=account, enqueue=False)
    SyncRun.objects.filter(pk=abandoned.pk).update(created_at=timezone.now() - timedelta(hours=2))
    sent: list[int] = []
    monkeypatch.setattr("marketplaces.emag.tasks.orders_sync.delay", sent.append)
    queued = orders.orders_sweep_all()
    assert queued == sent and len(queued) == 1
    abandoned.refresh_from_db()
    assert abandoned.status == SyncRun.Status.FAILED and "abandoned" in abandoned.error
    assert orders.orders_sweep_all() == []  # one is queued already


def test_a_long_first_sweep_asks_in_windows_of_at_most_a_month(emag, make_account) -> None:
    sim = emag()
    old = sim.add_order(status=4, created=sim.now() - timedelta(days=60))
    sim.state["orders"][old["id"]]["modified"] = old["date"]
    account = make_account(sim)
    with override_settings(EMAG_INITIAL_SYNC_DAYS=90):
        run = orders.orders_sync(account=account)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error  # the simulator refuses spans over a month
    assert EmagOrder.objects.get(account=account).status == EmagOrder.Status.FINALIZED
