"""Validation before every write to eMAG (SPEC MKT-3): pure functions returning field-level errors.

Each returns ``{"field.path": ["message", ...]}`` (empty when valid); ``require_valid`` turns that into
``EmagValidationError`` so nothing is sent. Codes eMAG may add later (cancellation reasons, payment
modes) are accepted as positive integers: what eMAG sent us must be sendable back unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.utils.translation import gettext

from .. import codes
from ..clients.emag import EmagValidationError
from .values import decimal_or_none

Errors = dict[str, list[str]]


def _add(errors: Errors, field: str, message: str) -> None:
    errors.setdefault(field, []).append(message)


def _positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def order_errors(order: Any) -> Errors:
    """The whole order as it will be sent to ``order/save``."""
    errors: Errors = {}
    if not isinstance(order, Mapping):
        return {"order": [gettext("Send the order as an object.")]}
    if not _positive_int(order.get("id")):
        _add(errors, "id", gettext("The eMAG order id must be a positive integer."))
    status = order.get("status")
    if status not in codes.ORDER_STATUSES:
        _add(errors, "status", gettext("Status must be one of %(values)s.") % {"values": sorted(codes.ORDER_STATUSES)})
    if status == codes.STATUS_CANCELED and not _positive_int(order.get("cancellation_reason")):
        _add(errors, "cancellation_reason", gettext("A cancelled order needs a cancellation reason code."))
    if order.get("payment_mode_id") is not None and not _positive_int(order.get("payment_mode_id")):
        _add(errors, "payment_mode_id", gettext("The payment mode must be a positive integer code."))
    if order.get("shipping_tax") is not None:
        tax = decimal_or_none(order.get("shipping_tax"))
        if tax is None or tax < 0:
            _add(errors, "shipping_tax", gettext("The shipping tax must be a number ≥ 0."))
    products = order.get("products")
    if not isinstance(products, list) or not products:
        _add(errors, "products", gettext("Send the whole order: its product lines are missing."))
        return errors
    active = 0
    for index, line in enumerate(products):
        prefix = f"products[{index}]"
        if not isinstance(line, Mapping):
            _add(errors, prefix, gettext("A product line must be an object."))
            continue
        if not _positive_int(line.get("id")) and not _positive_int(line.get("product_id")):
            _add(errors, f"{prefix}.id", gettext("A product line needs its id."))
        quantity = line.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
            _add(errors, f"{prefix}.quantity", gettext("The quantity must be a whole number ≥ 0."))
        price = decimal_or_none(line.get("sale_price"))
        if price is None or price < 0:
            _add(errors, f"{prefix}.sale_price", gettext("The sale price (ex-VAT) must be a number ≥ 0."))
        if line.get("status", 1) not in (0, 1):
            _add(errors, f"{prefix}.status", gettext("A line's status is 1 (active) or 0 (removed)."))
        if line.get("status", 1) == 1 and isinstance(quantity, int) and quantity > 0:
            active += 1
    if status not in (codes.STATUS_CANCELED, None) and not active and not errors:
        _add(errors, "products", gettext("An order that is not cancelled needs at least one active line."))
    return errors


def orders_bulk_errors(orders: Any) -> Errors:
    if not isinstance(orders, list) or not orders:
        return {"orders": [gettext("Send a non-empty list of orders.")]}
    errors: Errors = {}
    seen: set[Any] = set()
    for index, order in enumerate(orders):
        for field, messages in order_errors(order).items():
            errors.setdefault(f"orders[{index}].{field}", []).extend(messages)
        order_id = order.get("id") if isinstance(order, Mapping) else None
        if order_id in seen:
            _add(errors, f"orders[{index}].id", gettext("The same order appears twice in one bulk save."))
        seen.add(order_id)
    return errors


def cancel_errors(*, status: int | None, reason: Any) -> Errors:
    errors: Errors = {}
    if not _positive_int(reason):
        _add(errors, "reason", gettext("Give a cancellation reason code (a positive integer, e.g. 1 out of stock)."))
    if status in (codes.STATUS_CANCELED, codes.STATUS_FINALIZED, codes.STATUS_RETURNED):
        _add(
            errors,
            "status",
            gettext("An order that is %(status)s cannot be cancelled.") % {"status": codes.status_label(status)},
        )
    return errors


def acknowledge_errors(*, emag_id: Any, status: int | None) -> Errors:
    errors: Errors = {}
    if not _positive_int(emag_id):
        _add(errors, "id", gettext("The eMAG order id must be a positive integer."))
    if status != codes.STATUS_NEW:
        _add(
            errors,
            "status",
            gettext("Only new orders are acknowledged; this one is %(status)s.")
            % {"status": codes.status_label(status)},
        )
    return errors


def offer_errors(offer: Any, *, min_price: Any = None, max_price: Any = None) -> Errors:
    errors: Errors = {}
    if not isinstance(offer, Mapping):
        return {"offer": [gettext("Send the offer as an object.")]}
    if not _positive_int(offer.get("id")):
        _add(errors, "id", gettext("The offer id must be a positive integer."))
    if "sale_price" in offer:
        price = decimal_or_none(offer.get("sale_price"))
        low = decimal_or_none(offer.get("min_sale_price", min_price))
        high = decimal_or_none(offer.get("max_sale_price", max_price))
        if price is None or price <= 0:
            _add(errors, "sale_price", gettext("The sale price (ex-VAT) must be a number > 0."))
        elif (low is not None and price < low) or (high is not None and price > high):
            _add(
                errors,
                "sale_price",
                gettext("The sale price must be within %(low)s..%(high)s (min_sale_price..max_sale_price).")
                % {"low": low, "high": high},
            )
    if "stock" in offer:
        stock = offer.get("stock")
        values = [s.get("value") for s in stock if isinstance(s, Mapping)] if isinstance(stock, list) else [stock]
        if not values or any(not isinstance(v, int) or isinstance(v, bool) or v < 0 for v in values):
            _add(errors, "stock", gettext("Stock must be a whole number ≥ 0."))
    return errors


def require_valid(errors: Errors, what: str) -> None:
    if errors:
        summary = "; ".join(f"{field}: {' '.join(messages)}" for field, messages in errors.items())
        raise EmagValidationError(
            gettext("%(what)s is not valid: %(summary)s") % {"what": what, "summary": summary}, fields=errors
        )
