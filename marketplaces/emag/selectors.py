"""Reads of the eMAG app, always scoped to the caller's merchants for owners (SPEC PLAT-4)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.selectors import merchants_for_user, scope_to_user

from .models import EmagAccount, EmagBackup, EmagOffer, EmagOrder


def accounts_for_user(*, user: Any, write: bool = False) -> QuerySet[EmagAccount]:
    qs = EmagAccount.objects.select_related("merchant")
    if write:
        return qs.filter(merchant__in=merchants_for_user(user=user, write=True).values("pk"))
    return scope_to_user(qs, user=user)


def orders_for_user(*, user: Any) -> QuerySet[EmagOrder]:
    return scope_to_user(
        EmagOrder.objects.select_related("account").prefetch_related("items"),
        user=user,
        merchant_field="account__merchant",
    )


def offers_for_user(*, user: Any) -> QuerySet[EmagOffer]:
    return scope_to_user(EmagOffer.objects.select_related("account"), user=user, merchant_field="account__merchant")


def backups_for_account(*, account: EmagAccount) -> QuerySet[EmagBackup]:
    return EmagBackup.objects.filter(account=account)
