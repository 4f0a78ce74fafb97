"""Reads of the eMAG app, always scoped to the caller's merchants for owners (SPEC PLAT-4)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.selectors import merchants_for_user, scope_to_user

from .models import EmagAccount, EmagBackup


def accounts_for_user(*, user: Any, write: bool = False) -> QuerySet[EmagAccount]:
    qs = EmagAccount.objects.select_related("merchant")
    if write:
        return qs.filter(merchant__in=merchants_for_user(user=user, write=True).values("pk"))
    return scope_to_user(qs, user=user)


def backups_for_account(*, account: EmagAccount) -> QuerySet[EmagBackup]:
    return EmagBackup.objects.filter(account=account)
