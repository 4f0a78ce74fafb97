"""The Kaspi clients read the wire format of API_CONTRACTS.md (payloads in tests/fixtures/kaspi/), not
just what our simulator sends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from marketplaces.kaspi.clients.cabinet import parse_offer
from marketplaces.kaspi.clients.shop import parse_entry, parse_order

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "kaspi"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def test_orders_page_fields_are_read() -> None:
    first, second = (parse_order(item) for item in _load("orders_page.json")["data"])
    assert (first.kaspi_id, first.code, first.state, first.status) == (
        "MTUyNzIzMTg1",
        "150294012",
        "PICKUP",
        "ACCEPTED_BY_MERCHANT",
    )
    assert first.total_price == Decimal("27990.0") and first.payment_mode == "PAY_WITH_CREDIT"
    assert first.creation_date == datetime(2020, 1, 24, 7, 33, 54, 567000, tzinfo=UTC)
    assert first.planned_delivery_date is not None and first.customer_name == "Иван Иванов"
    # No "name": first and last name; no plannedDeliveryDate: none.
    assert second.customer_name == "Айгерим Сапарова" and second.planned_delivery_date is None
    assert second.is_kaspi_delivery is True and second.total_price == Decimal(4500)


def test_entries_fields_are_read() -> None:
    (entry,) = (parse_entry(item, n) for n, item in enumerate(_load("entries.json")["data"]))
    assert (entry.sku, entry.quantity, entry.kaspi_product_id) == ("DL-ECAM-22", 2, "100944213")
    assert entry.base_price == Decimal("13995.0") and entry.total_price == Decimal("27990.0")


def test_offer_list_fields_are_read() -> None:
    machine, beans = (parse_offer(item) for item in _load("offer_list.json")["data"])
    assert (machine.sku, machine.card_id, machine.price, machine.brand) == (
        "DL-ECAM-22",
        "100944213",
        189990,
        "De'Longhi",
    )
    assert machine.city_prices[1] == {"cityId": "710000000", "value": 191990}
    assert machine.image_url.endswith(".jpg") and machine.category == "Кофемашины"
    assert (beans.card_id, beans.price, beans.city_prices, beans.image_url) == ("2700417", 9990, [], "")
