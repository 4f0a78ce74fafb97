"""Owner endpoints for a merchant's provider accounts (issue 9): create and update through a service,
secrets write-only. A response never carries a secret, only ``has_<secret>`` presence flags."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from django.utils.translation import gettext
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import mixins, serializers, viewsets
from rest_framework.exceptions import ValidationError

from .tenancy import MerchantScopedMixin


def secret_field() -> serializers.CharField:
    return serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=2000,
                                 style={"input_type": "password"})  # fmt: skip


@extend_schema_field(OpenApiTypes.BOOL)
class PresenceField(serializers.Field):
    """``has_<secret>``: whether a secret is stored, never the secret."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(read_only=True, **kwargs)

    def to_representation(self, value: Any) -> bool:
        return bool(value)


class SecretFlagsSerializer(serializers.ModelSerializer):
    """A ModelSerializer whose ``secret_fields`` are write-only and reported as ``has_<name>``."""

    secret_fields: ClassVar[tuple[str, ...]] = ()

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        for name in self.secret_fields:
            fields[name] = secret_field()
            fields[f"has_{name}"] = PresenceField(source=name)
        return fields


class AccountViewSet(
    MerchantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """List, read (secrets masked), create and update; every write goes through ``save`` (a service
    taking ``merchant``, ``data`` and, on update, the account). No delete: deactivate instead."""

    save: ClassVar[Callable[..., Any]]

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)  # type: ignore[arg-type]
        merchant = data.pop("merchant")
        serializer.instance = type(self).save(merchant=merchant, data=data)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)  # type: ignore[arg-type]
        account: Any = serializer.instance
        merchant = data.pop("merchant", account.merchant)
        if merchant != account.merchant:
            raise ValidationError({"merchant": [gettext("An account cannot move to another merchant.")]})
        serializer.instance = type(self).save(merchant=merchant, data=data, account=account)
