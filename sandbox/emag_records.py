"""What the eMAG simulator's shop holds, shaped as eMAG sends it (API_CONTRACTS.md "eMAG"): orders
with their product lines, vouchers and customer, and offers with their price bounds and stock; and
how ``order/read`` pages and filters them (a wrong filter is eMAG's error message, a string)."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

DATE_FORMAT = "%Y-%m-%d %H:%M:%S"
MAX_SPAN = timedelta(days=31)
EMAG_ZONE = ZoneInfo("Europe/Bucharest")
PRODUCTS = [
    ("CF-ESP-1KG", "D5DD9BBBM", "Cafea boabe espresso 1 kg", "89.9000"),
    ("CF-ARA-500", "D7GH2KLBM", "Cafea arabica 500 g", "54.5000"),
    ("CUP-PAPER-50", "DQ1XYZ3BM", "Pahare carton 50 buc", "19.9000"),
    ("FLT-V60-100", "DK8PL0QBM", "Filtre V60 100 buc", "24.0000"),
]


def emag_now() -> datetime:
    # eMAG's timestamps are Romanian local time, whatever the zone of the machine.
    return datetime.now(EMAG_ZONE).replace(tzinfo=None, microsecond=0)


def order_lines(order_id: int, first_line_id: int, created: datetime, rng: random.Random) -> list[dict[str, Any]]:
    """One to three product lines, numbered from ``first_line_id``."""
    lines = []
    for index in range(1 + rng.randrange(3)):
        sku, key, name, price = PRODUCTS[(order_id + index) % len(PRODUCTS)]
        qty = 1 + rng.randrange(3)
        lines.append(
            {
                "id": first_line_id + index,
                "product_id": 100_000 + (order_id + index) % len(PRODUCTS),
                "part_number": sku,
                "part_number_key": key,
                "name": name,
                "quantity": qty,
                "initial_qty": qty,
                "storno_qty": 0,
                "sale_price": price,
                "original_price": price,
                "vat": "0.19",
                "currency": "RON",
                "status": 1,
                "details": [],
                "created": created.strftime(DATE_FORMAT),
                "modified": created.strftime(DATE_FORMAT),
            }
        )
    return lines


def order_record(
    order_id: int, *, status: int, created: datetime, lines: list[dict[str, Any]], **fields: Any
) -> dict[str, Any]:
    """An order as ``order/read`` returns it; every fifth one carries a voucher."""
    total = sum(float(line["sale_price"]) * line["quantity"] for line in lines) * 1.19
    return {
        "id": order_id,
        "status": status,
        "is_complete": 1,
        "type": 3,
        "payment_mode": "COD",
        "payment_mode_id": 1,
        "detailed_payment_method": "Cash on delivery",
        "delivery_mode": "courier",
        "observation": None,
        "details": {"locker_id": None, "locker_name": None, "locker_delivery_eligible": 0},
        "date": created.strftime(DATE_FORMAT),
        "modified": created.strftime(DATE_FORMAT),
        "payment_status": 0,
        "cashed_co": 0,
        "cashed_cod": round(total + 19.99, 2),
        "shipping_tax": 19.99,
        "shipping_tax_voucher_split": [{"voucher_id": 1001, "value": "-5.0000", "vat_value": "-0.9500"}]
        if order_id % 5 == 0
        else [],
        "customer": {
            "id": 7000 + order_id % 100,
            "name": f"Client {order_id % 100}",
            "phone_1": "07xxxxxxxx",
            "email": "",
            "company": "",
            "shipping_city": "Bucuresti",
            "shipping_country": "RO",
            "shipping_street": "Str. Exemplu 1",
            "billing_name": f"Client {order_id % 100}",
            "legal_entity": 0,
        },
        "products": lines,
        "attachments": [],
        "vouchers": [
            {
                "voucher_id": 1001,
                "voucher_name": "Reducere",
                "sale_price": "-5.0000",
                "sale_price_vat": "-0.9500",
                "vat": "0.19",
            }
        ]
        if order_id % 5 == 0
        else [],
        "is_storno": False,
        "cancellation_reason": None,
        "cancellation_request": None,
        "refunded_amount": "0",
        "refund_status": None,
        "maximum_date_for_shipment": (created + timedelta(days=2)).strftime(DATE_FORMAT),
        "finalization_date": None,
        "parent_id": None,
        "emag_club": order_id % 3 == 0,
        "flags": [],
        "currency": "RON",
        "sales_channel": "Desktop",
        "late_shipment": 0,
        **fields,
    }


def offer_record(k: int) -> dict[str, Any]:
    """The ``k``-th offer as ``product_offer/read`` returns it."""
    sku, key, name, price = PRODUCTS[k % len(PRODUCTS)]
    return {
        "id": 3000 + k,
        "part_number_key": key,
        "part_number": f"{sku}-{k}",
        "name": name,
        "status": 1,
        "sale_price": price,
        "recommended_price": price,
        "min_sale_price": f"{float(price) * 0.8:.4f}",
        "max_sale_price": f"{float(price) * 1.5:.4f}",
        "currency": "RON",
        "vat_id": 1,
        "stock": [{"warehouse_id": 1, "value": 5 + k % 20}],
        "handling_time": [{"warehouse_id": 1, "value": 1}],
        "buy_button_rank": 1 + k % 4,
        "best_offer_sale_price": f"{float(price) * 0.97:.4f}",
        "number_of_offers": 1 + k % 6,
    }


def as_int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def page_and_size(body: dict[str, Any]) -> tuple[int, int] | str:
    try:
        page = int(body.get("currentPage", 1))
        size = int(body.get("itemsPerPage", 100))
    except (TypeError, ValueError):
        return "currentPage and itemsPerPage must be integers"
    if page < 1:
        return "currentPage starts at 1"
    if not 1 <= size <= 100:
        return "itemsPerPage must be between 1 and 100"
    return page, size


def orders_matching(
    orders: list[dict[str, Any]], body: dict[str, Any], *, now: Callable[[], datetime]
) -> list[dict[str, Any]] | str:
    """The orders an ``order/read`` or ``order/count`` body selects, by id; date spans ≤ one month."""
    bounds: dict[str, datetime] = {}
    for name in ("createdAfter", "createdBefore", "modifiedAfter", "modifiedBefore"):
        if body.get(name) is not None:
            try:
                bounds[name] = datetime.strptime(str(body[name]), DATE_FORMAT)
            except ValueError:
                return f"{name} must be formatted YYYY-mm-dd HH:ii:ss"
    for prefix in ("created", "modified"):
        after, before = bounds.get(f"{prefix}After"), bounds.get(f"{prefix}Before")
        if after and (before or now()) - after > MAX_SPAN:
            return f"The {prefix} interval must not exceed one month"
    result = []
    for order in orders:
        if "id" in body and order["id"] != as_int(body["id"]):
            continue
        if body.get("status") is not None and order["status"] != as_int(body["status"]):
            continue
        if body.get("payment_mode_id") is not None and order["payment_mode_id"] != as_int(body["payment_mode_id"]):
            continue
        if body.get("type") is not None and order["type"] != as_int(body["type"]):
            continue
        created = datetime.strptime(order["date"], DATE_FORMAT)
        modified = datetime.strptime(order["modified"], DATE_FORMAT)
        if "createdAfter" in bounds and created < bounds["createdAfter"]:
            continue
        if "createdBefore" in bounds and created > bounds["createdBefore"]:
            continue
        if "modifiedAfter" in bounds and modified < bounds["modifiedAfter"]:
            continue
        if "modifiedBefore" in bounds and modified > bounds["modifiedBefore"]:
            continue
        result.append(order)
    result.sort(key=lambda o: o["id"])
    return result
