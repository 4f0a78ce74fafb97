"""Reads of poster_sync, always scoped to the caller's merchants for owners (SPEC PLAT-4, REL-5)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.selectors import merchants_for_user, scope_to_user

from .models import PosterAccount


def accounts_for_user(*, user: Any, write: bool = False) -> QuerySet[PosterAccount]:
    if write:
        return PosterAccount.objects.filter(merchant__in=merchants_for_user(user=user, write=True).values("pk"))
    return scope_to_user(PosterAccount.objects.all(), user=user)
