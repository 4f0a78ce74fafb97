"""Reads of the core app, always scoped to the caller's merchants for owners (SPEC PLAT-4)."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model, QuerySet

from .models import Membership, Merchant, SyncRun

M = TypeVar("M", bound=Model)


def merchants_for_user(*, user: Any, write: bool = False) -> QuerySet[Merchant]:
    if not getattr(user, "is_authenticated", False):
        return Merchant.objects.none()
    memberships = Membership.objects.filter(user=user)
    if write:
        memberships = memberships.filter(role__in=Membership.WRITE_ROLES)
    return Merchant.objects.filter(pk__in=memberships.values("merchant_id"))


def scope_to_user(queryset: QuerySet[M], *, user: Any, merchant_field: str = "merchant") -> QuerySet[M]:
    """Restrict any queryset to the merchants the user belongs to; others' rows simply vanish (404)."""
    if not getattr(user, "is_authenticated", False):
        return queryset.none()
    # A subquery rather than a join: no duplicate rows, and the planner keeps using the
    # (merchant, ...) indexes of big tables.
    return queryset.filter(**{f"{merchant_field}__in": merchants_for_user(user=user).values("pk")})


def sync_runs_for_user(*, user: Any, kind: str | None = None) -> QuerySet[SyncRun]:
    qs = scope_to_user(SyncRun.objects.select_related("merchant"), user=user)
    if kind:
        qs = qs.filter(kind__startswith=kind)
    return qs


def sync_runs_of(account: Model) -> QuerySet[SyncRun]:
    """The runs of one account (a Vendista account, a Kaspi store ...), on the (type, id) index."""
    return SyncRun.objects.filter(account_type=ContentType.objects.get_for_model(account), account_id=account.pk)


def sync_run_account(*, run: SyncRun, model: type[M]) -> M | None:
    """The run's account read now, if the run names one of ``model`` and it still exists."""
    if run.account_id is None or run.account_type_id != ContentType.objects.get_for_model(model).pk:
        return None
    return model._default_manager.filter(pk=run.account_id).first()
