"""Reads of the payments app; owner reads are always merchant-scoped."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from core.selectors import scope_to_user

from .models import Device, Drink, Order


def device_for_buyer(*, code: str) -> Device | None:
    """A device buyers may pay at: exists, active, and its merchant active."""
    return Device.objects.select_related("merchant").filter(code=code, is_active=True, merchant__is_active=True).first()


def drinks_for_device(*, device: Device) -> QuerySet[Drink]:
    return Drink.objects.filter(
        Q(device=device) | Q(device__isnull=True, merchant_id=device.merchant_id), is_active=True
    ).order_by("name")


def order_for_buyer(*, order_id: Any) -> Order | None:
    return Order.objects.select_related("device", "payment").filter(pk=order_id).first()


def orders_for_user(*, user: Any, filters: dict[str, Any] | None = None) -> QuerySet[Order]:
    qs = scope_to_user(Order.objects.select_related("device", "payment"), user=user)
    filters = filters or {}
    if filters.get("status"):
        qs = qs.filter(status__in=str(filters["status"]).split(","))
    if filters.get("device"):
        qs = qs.filter(device_id=filters["device"])
    if filters.get("created_from"):
        qs = qs.filter(created_at__gte=filters["created_from"])
    if filters.get("created_to"):
        qs = qs.filter(created_at__lt=filters["created_to"])
    return qs
