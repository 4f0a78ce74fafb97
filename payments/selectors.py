"""Reads of the payments app; owner reads are always merchant-scoped."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

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
