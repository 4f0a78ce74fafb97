"""eMAG's codes as data (API_CONTRACTS.md "eMAG"): statuses, payment modes, cancellation reasons.

Codes the tables do not know (eMAG adds reasons over time) are stored as received and shown as
"unknown (N)" — never rejected.
"""

from __future__ import annotations

from collections.abc import Mapping

ORDER_STATUSES: dict[int, str] = {
    0: "canceled",
    1: "new",
    2: "in progress",
    3: "prepared",
    4: "finalized",
    5: "returned",
}

PAYMENT_MODES: dict[int, str] = {
    1: "cash on delivery",
    2: "bank transfer",
    3: "online card",
}

ORDER_TYPES: dict[int, str] = {2: "fulfilled by eMAG (FBE)", 3: "fulfilled by seller (FBS)"}

CANCELLATION_REASONS: dict[int, str] = {
    1: "out of stock",
    2: "cancelled by the client",
    3: "client cannot be contacted",
    15: "courier delivery term too large",
    16: "transport tax too large",
    17: "long delivery until the product reaches the warehouse",
    18: "better offer elsewhere",
    19: "payment not made",
    20: "undelivered (courier)",
    21: "others",
    22: "incomplete order (automatic)",
    23: "customer changed mind",
    24: "customer request",
    25: "failed delivery",
    26: "late shipment",
    27: "irrelevant order",
    28: "cancelled by SuperAdmin at seller request",
    29: "blacklisted customer",
    30: "no VAT invoice",
    31: "partner requested cancellation",
    32: "delivery estimate too long",
    33: "product no longer in partner stock",
    34: "other reasons",
    35: "delivery too expensive",
    36: "better price elsewhere",
    37: "similar eMAG order placed",
    38: "changed mind / does not need it",
    39: "only by instalments",
}

STATUS_CANCELED, STATUS_NEW, STATUS_IN_PROGRESS, STATUS_PREPARED, STATUS_FINALIZED, STATUS_RETURNED = range(6)


def label(table: Mapping[int, str], code: int | None) -> str:
    """The text of ``code`` in ``table``; "unknown (N)" for a code the table lacks, "" for none."""
    if code is None:
        return ""
    return table.get(code, f"unknown ({code})")


def status_label(code: int | None) -> str:
    return label(ORDER_STATUSES, code)


def payment_mode_label(code: int | None) -> str:
    return label(PAYMENT_MODES, code)


def cancellation_reason_label(code: int | None) -> str:
    return label(CANCELLATION_REASONS, code)
