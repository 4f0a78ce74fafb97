"""Merchant scoping for every owner endpoint (SPEC PLAT-4, REL-5).

A viewset sets ``merchant_field`` (the lookup path from its model to ``Merchant``) and gets:
its queryset restricted to the caller's merchants (another merchant's object is a 404), write
methods allowed only to owners and managers, and a ``merchant`` chosen on create validated
against the caller's writable merchants.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import permissions, serializers
from rest_framework.request import Request

from core.models import Merchant
from core.selectors import merchants_for_user, scope_to_user


class MerchantRolePermission(permissions.IsAuthenticated):
    """Members read; owners and managers write (viewers get 403 on unsafe methods)."""

    message = _("Your role in this merchant allows reading only.")

    def has_object_permission(self, request: Request, view: Any, obj: Any) -> bool:
        if request.method in permissions.SAFE_METHODS:
            return True
        merchant_id = _merchant_id_of(obj, getattr(view, "merchant_field", "merchant"))
        return merchants_for_user(user=request.user, write=True).filter(pk=merchant_id).exists()


def _merchant_id_of(obj: Any, path: str) -> Any:
    target = obj
    for part in path.split("__"):
        target = getattr(target, part)
    return target.pk if isinstance(target, Merchant) else target


class MerchantScopedMixin:
    merchant_field = "merchant"
    permission_classes: Any = [MerchantRolePermission]
    request: Any

    def get_queryset(self) -> QuerySet[Any]:
        qs = super().get_queryset()  # type: ignore[misc]
        return scope_to_user(qs, user=self.request.user, merchant_field=self.merchant_field)


class MerchantField(serializers.PrimaryKeyRelatedField):
    """A merchant the caller may write to; others are "does not exist" (no existence leak)."""

    def get_queryset(self) -> QuerySet[Merchant]:
        request = self.context.get("request")
        if request is None:
            return Merchant.objects.none()
        return merchants_for_user(user=request.user, write=True)


def account_pick(*, readable: QuerySet[Any], writable: QuerySet[Any], pk: int | None, write: bool) -> Any:
    """The integration account an owner endpoint acts on: ``pk`` when given (another merchant's is a
    404, a read-only member's is a 403 for writes), else the caller's only active one, else None.
    Messages name the account by its model's (translated) verbose names."""
    from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError

    meta = readable.model._meta
    accounts = writable if write else readable
    if pk is not None:
        account = accounts.filter(pk=pk).first()
        if account is None:
            if write and readable.filter(pk=pk).exists():
                raise PermissionDenied(MerchantRolePermission.message)
            raise NotFound(gettext("No such %(thing)s.") % {"thing": meta.verbose_name})
        return account
    active = list(accounts.filter(is_active=True)[:2])
    if len(active) > 1:
        raise ValidationError(
            {
                "account": [
                    gettext("You have several %(things)s: choose one with `account`.")
                    % {"things": meta.verbose_name_plural}
                ]
            }
        )
    return active[0] if active else None


def account_pick_required(
    *, readable: QuerySet[Any], writable: QuerySet[Any], pk: int | None, write: bool, missing: str
) -> Any:
    """``account_pick`` for endpoints that need an account: none active is a 404 saying ``missing``,
    or a 403 when the caller can read an active one but not write to it."""
    from rest_framework.exceptions import NotFound, PermissionDenied

    account = account_pick(readable=readable, writable=writable, pk=pk, write=write)
    if account is None:
        if write and readable.filter(is_active=True).exists():
            raise PermissionDenied(MerchantRolePermission.message)
        raise NotFound(missing)
    return account
