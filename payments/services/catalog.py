"""Rules of the merchant's devices and drinks, enforced the same way by the API and the admin.

Both edges call these checks with the values they are about to save (DRF serializers in
``payments/api.py``, admin forms in ``payments/admin.py``); a ``ValidationError`` names the field.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError
from django.utils.translation import gettext, gettext_lazy

from core.models import Merchant

from ..models import Device, Drink

VAT_CODES = range(1, 11)  # 54-FZ
PRICE_FIELDS = ("price_small", "price_medium", "price_big")


ADDRESS_TAKEN = gettext_lazy("Another device already has this address (MQTT topic id / deviceUuid).")


def device_check(
    *, instance: Device | None, merchant: Merchant | None, channel: str, external_id: str, code: str = ""
) -> None:
    """A Tmetr device needs its Tmetr id; a device never moves to another merchant; its address is
    its own (``device_address_check``)."""
    if channel == Device.Channel.TMETR and not external_id:
        raise ValidationError({"external_id": gettext("Required for Tmetr devices.")})
    if instance is not None and instance.pk is not None and merchant is not None:
        stored = Device.objects.filter(pk=instance.pk).values_list("merchant_id", flat=True).first()
        if stored is not None and stored != merchant.pk:
            raise ValidationError({"merchant": gettext("A device cannot move to another merchant.")})
    device_address_check(instance=instance, external_id=external_id, code=code)


def device_address_check(*, instance: Device | None, external_id: str, code: str) -> None:
    """One machine per address across the platform, whatever the merchant (SPEC PLAT-15).

    A machine is reached at its external id, else its code: its MQTT topics
    (``devices/<address>/…``) and the legacy QR's ``deviceUuid`` (external id). Two devices with one
    address would take each other's brew commands and acknowledgements, and a legacy QR could open
    an order on another merchant's machine. An external id equal to another device's code clashes
    too (that device's address the moment its own external id is cleared). The database enforces
    the address itself (``payments_device_address_unique``); this check names the field first.
    """
    others = Device.objects.all()
    if instance is not None and instance.pk is not None:
        others = others.exclude(pk=instance.pk)
    address = external_id or code
    field = "external_id" if external_id else "code"
    if address and (
        others.filter(external_id=address).exists() or others.filter(external_id="", code=address).exists()
    ):
        raise ValidationError({field: ADDRESS_TAKEN})
    if external_id and others.filter(code=external_id).exists():
        raise ValidationError({"external_id": gettext("This id is another device's code; addresses must be unique.")})
    if code and others.filter(external_id=code).exists():
        raise ValidationError({"code": gettext("This code is another device's external id; addresses must be unique.")})


@contextmanager
def device_address_taken_is_invalid() -> Iterator[None]:
    """Two saves racing for one address: the database refuses the second, which becomes a 400."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        if "payments_device_address_unique" not in str(exc):
            raise
        raise ValidationError({"external_id": ADDRESS_TAKEN}) from exc


def device_delete(*, device: Device) -> None:
    """A device with orders stays (their history needs it): deactivate it instead."""
    if device.orders.exists():
        raise ValidationError({"device": gettext("The device has orders; deactivate it instead.")})
    try:
        device.delete()
    except ProtectedError as exc:  # an order arrived in between
        raise ValidationError({"device": gettext("The device has orders; deactivate it instead.")}) from exc


def drink_check(
    *, merchant: Merchant | None, device: Device | None, vat_code: int | None, prices: dict[str, int | None]
) -> None:
    """VAT code 1..10; the device (if any) is the merchant's; at least one size has a price."""
    if vat_code is not None and vat_code not in VAT_CODES:
        raise ValidationError({"vat_code": gettext("VAT code must be 1..10 (54-FZ).")})
    if device is not None and merchant is not None and device.merchant_id != merchant.pk:
        raise ValidationError({"device": gettext("The device belongs to another merchant.")})
    if not any(prices.get(name) for name in PRICE_FIELDS):
        raise ValidationError({"price_small": gettext("Give a price (kopecks) for at least one size.")})


def drink_values(drink: Drink | None, changes: dict) -> dict:
    """The drink's values after ``changes`` (a partial update keeps the stored ones)."""
    names = ("merchant", "device", "vat_code", *PRICE_FIELDS)
    return {name: changes[name] if name in changes else getattr(drink, name, None) for name in names}


def drink_check_values(values: dict) -> None:
    drink_check(
        merchant=values.get("merchant"),
        device=values.get("device"),
        vat_code=values.get("vat_code"),
        prices={name: values.get(name) for name in PRICE_FIELDS},
    )
