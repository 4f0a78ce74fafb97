"""Reads of the Kaspi module; owners' reads are merchant-scoped (the API's viewsets scope their querysets)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.selectors import scope_to_user

from .models import KaspiOrder, KaspiProduct, KaspiStore


def stores_for_user(*, user: Any) -> QuerySet[KaspiStore]:
    return scope_to_user(KaspiStore.objects.select_related("merchant"), user=user)


def products_for_store(*, store: KaspiStore, active: bool | None = True) -> QuerySet[KaspiProduct]:
    qs = KaspiProduct.objects.filter(store=store)
    return qs if active is None else qs.filter(is_active=active)


def order_detail(*, order_id: int) -> KaspiOrder:
    return KaspiOrder.objects.prefetch_related("entries").get(pk=order_id)
