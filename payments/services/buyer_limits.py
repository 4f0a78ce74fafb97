"""Limits on anonymous order creation (SPEC PAY-1, REL-3): each order creates a payment at the
merchant's provider, so a flood of orders costs the merchant. Budgets per client address (one
address cannot create more than a handful) and per coffee machine (many addresses together cannot
bury one machine), moving windows in Redis shared by every web process (core.ratelimit.RateLimiter).

The address budget is taken first and a refused request takes nothing from the machine's budget,
so one flooding address does not use up the machine for buyers on other addresses.
"""

from __future__ import annotations

import logging

from django.conf import settings

from core.ratelimit import Rate, RateLimiter

log = logging.getLogger("payments.limits")


def _limiter(scope: str, ident: str, amount: int) -> RateLimiter:
    return RateLimiter(f"buyer-orders:{scope}:{ident}", Rate(amount, settings.BUYER_ORDER_WINDOW_SECONDS))


def order_budget_take(*, device_id: int, address: str) -> float:
    """Take one order from both budgets: 0 when granted, else the seconds until one frees up."""
    per_address, per_device = settings.BUYER_ORDERS_PER_ADDRESS, settings.BUYER_ORDERS_PER_DEVICE
    if per_address > 0:
        by_address = _limiter("address", address or "unknown", per_address)
        if not by_address.try_acquire():
            log.warning("buyer orders from %s over the limit (%d per %d s)", address, per_address, _window())
            return max(1.0, by_address.retry_after())
    if per_device > 0:
        by_device = _limiter("device", str(device_id), per_device)
        if not by_device.try_acquire():
            log.warning("buyer orders on device %s over the limit (%d per %d s)", device_id, per_device, _window())
            return max(1.0, by_device.retry_after())
    return 0.0


def _window() -> int:
    return int(settings.BUYER_ORDER_WINDOW_SECONDS)
