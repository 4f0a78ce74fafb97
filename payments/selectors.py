"""Reads of the payments app; owner reads are always merchant-scoped."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from .models import Device, Drink, Order


def device_for_buyer(*, code: str) -> Device | None:
    """A device buyers may pay at: exists, active, and its merchant active."""
    return Device.objects.select_related("merchant").filter(code=code, is_active=True, merchant__is_active=True).first()


def device_for_legacy_qr(*, device_uuid: str) -> Device | None:
    """The machine a legacy QR (``/v1/pay?deviceUuid=``) names: the one device with that external id
    (unique across the platform, PLAT-15), active and of an active merchant. Never a guess: were two
    devices ever to share the id, neither is chosen."""
    found = list(Device.objects.select_related("merchant").filter(external_id=device_uuid).exclude(external_id="")[:2])
    if len(found) != 1 or not found[0].is_active or not found[0].merchant.is_active:
        return None
    return found[0]


def drinks_for_device(*, device: Device) -> QuerySet[Drink]:
    return Drink.objects.filter(
        Q(device=device) | Q(device__isnull=True, merchant_id=device.merchant_id), is_active=True
    ).order_by("name")


def order_for_buyer(*, order_id: Any) -> Order | None:
    return Order.objects.select_related("device", "payment").filter(pk=order_id).first()
