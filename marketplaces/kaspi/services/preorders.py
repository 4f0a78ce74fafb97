"""Preorders: an item offered with a delivery in N days (default 30) before it is in stock."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext

from ..models import KaspiProduct, KaspiStore, Preorder

MIN_PRICE = 10


def preorder_price_check(*, price: int) -> None:
    """Kaspi takes whole tenge, at least 10 (the API's serializer and the admin form run it too)."""
    if price < MIN_PRICE:
        raise ValidationError(
            {"price": [gettext("Kaspi prices are whole tenge, at least %(min)s.") % {"min": MIN_PRICE}]}
        )


def _link_product(store: KaspiStore, article: str) -> KaspiProduct | None:
    return KaspiProduct.objects.filter(store=store, sku=article).first()


@transaction.atomic
def preorder_create(*, store: KaspiStore, **fields: Any) -> Preorder:
    fields.setdefault("product", _link_product(store, fields.get("article", "")))
    preorder = Preorder(store=store, **fields)
    preorder_price_check(price=preorder.price)
    preorder.full_clean()
    preorder.save()
    return preorder


@transaction.atomic
def preorder_update(*, preorder: Preorder, **fields: Any) -> Preorder:
    for name, value in fields.items():
        setattr(preorder, name, value)
    if "article" in fields and "product" not in fields:
        preorder.product = _link_product(preorder.store, preorder.article)
    preorder_price_check(price=preorder.price)
    preorder.full_clean()
    preorder.save()
    return preorder
