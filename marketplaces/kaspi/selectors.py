"""Reads of the Kaspi module; owners' reads are merchant-scoped (the API's viewsets scope their querysets)."""

from __future__ import annotations

from .models import KaspiOrder


def order_detail(*, order_id: int) -> KaspiOrder:
    return KaspiOrder.objects.prefetch_related("entries").get(pk=order_id)
