"""Owner API under /api/v1/repricer/ (SPEC REP-6): rules (CRUD, reprice now, dry run, history), price
history, and each store's switches (pause, dry run, reprice the store now, the XML price list URL and
its rotation). Every queryset is scoped to the caller's merchants; writes need the owner or manager role."""

from __future__ import annotations

from decimal import Decimal
from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.urls import reverse
from django.utils.translation import gettext
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.tenancy import MerchantScopedMixin
from marketplaces.kaspi.models import KaspiProduct

from . import selectors
from .models import PriceChange, RepricingRule, StoreRepricing
from .services import operations


def _drf(exc: DjangoValidationError) -> ValidationError:
    return ValidationError(exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages})


class ProductField(serializers.PrimaryKeyRelatedField):
    """A Kaspi product of a merchant the caller may write to; others "do not exist" (no existence leak)."""

    def get_queryset(self) -> QuerySet[KaspiProduct]:
        request = self.context.get("request")
        if request is None:
            return KaspiProduct.objects.none()
        return selectors.products_writable(user=request.user)


class RuleSerializer(serializers.ModelSerializer):
    product = ProductField()
    ignored_merchant_ids = serializers.ListField(
        child=serializers.CharField(max_length=64), required=False, max_length=200
    )
    min_price = serializers.IntegerField(min_value=0, max_value=100_000_000)
    max_price = serializers.IntegerField(min_value=10, max_value=100_000_000)
    step = serializers.IntegerField(min_value=1, max_value=1_000_000, required=False)
    top_n = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    check_interval_seconds = serializers.IntegerField(min_value=10, max_value=7 * 86400, required=False)
    max_change_percent = serializers.DecimalField(
        max_digits=5,
        decimal_places=2,
        min_value=Decimal("0.01"),
        max_value=Decimal("999"),
        required=False,
        allow_null=True,
    )

    class Meta:
        model = RepricingRule
        fields = [
            "id", "product", "is_active", "min_price", "max_price", "step", "strategy", "top_n",
            "ignored_merchant_ids", "max_delivery_days", "city_id", "check_interval_seconds", "is_priority",
            "work_from", "work_to", "max_change_percent", "next_check_at", "last_checked_at",
            "last_competitor_best", "last_reason", "at_floor_since", "feed_price", "consecutive_failures",
            "last_error", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = [
            "next_check_at", "last_checked_at", "last_competitor_best", "last_reason", "at_floor_since", "feed_price",
            "consecutive_failures", "last_error", "created_at", "updated_at",
        ]  # fmt: skip
        validators: list[Any] = []

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and "product" in attrs and attrs["product"] != self.instance.product:
            raise ValidationError({"product": [gettext("A rule cannot move to another product.")]})
        product = attrs.get("product")
        if self.instance is None and product is not None and selectors.rule_exists_for(product=product):
            raise ValidationError({"product": [gettext("This product already has a rule.")]})
        low = attrs.get("min_price", getattr(self.instance, "min_price", 0))
        high = attrs.get("max_price", getattr(self.instance, "max_price", 0))
        if low > high:
            raise ValidationError({"max_price": [gettext("Must be at least the min price.")]})
        return attrs


class PriceChangeOutput(serializers.ModelSerializer):
    class Meta:
        model = PriceChange
        fields = [
            "id", "rule", "product", "old_price", "competitor_best", "competitors", "new_price", "reason",
            "outcome", "error", "upload_id", "created_at",
        ]  # fmt: skip


class RepriceNowInput(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False)


class RuleViewSet(MerchantScopedMixin, viewsets.ModelViewSet):
    merchant_field = "product__store__merchant"
    queryset = selectors.rules_all()
    serializer_class = RuleSerializer
    filterset_fields = ["product", "product__store", "is_active", "strategy", "is_priority"]

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        try:
            serializer.instance = operations.rule_create(**data)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        data.pop("product", None)
        try:
            serializer.instance = operations.rule_update(rule=cast(RepricingRule, serializer.instance), **data)
        except DjangoValidationError as exc:
            raise _drf(exc) from exc

    @action(detail=True, methods=["post"], url_path="reprice-now")
    def reprice_now(self, request: Request, pk: str | None = None) -> Response:
        """Check this product now on the repricer queue; ``dry_run`` decides and records, never uploads."""
        rule = self.get_object()
        body = RepriceNowInput(data=request.data)
        body.is_valid(raise_exception=True)
        queued = operations.reprice_now(rule_ids=[rule.pk], dry_run=body.validated_data["dry_run"])
        return Response({"queued": queued, "dry_run": body.validated_data["dry_run"]}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def history(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        page = self.paginate_queryset(selectors.price_changes_of(rule=rule))
        data = PriceChangeOutput(page, many=True).data
        return self.get_paginated_response(data) if page is not None else Response(data)


class PriceChangeViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    merchant_field = "product__store__merchant"
    queryset = selectors.price_changes_all()
    serializer_class = PriceChangeOutput
    filterset_fields = ["rule", "product", "outcome", "reason"]


class StoreRepricingSerializer(serializers.ModelSerializer):
    price_list_url = serializers.SerializerMethodField()

    class Meta:
        model = StoreRepricing
        fields = [
            "id",
            "store",
            "is_paused",
            "dry_run",
            "rate_limited_until",
            "last_error",
            "price_list_url",
            "updated_at",
        ]
        read_only_fields = ["store", "rate_limited_until", "last_error", "updated_at"]

    def get_price_list_url(self, switches: StoreRepricing) -> str:
        """The secret URL to give Kaspi (only owners and managers see it)."""
        request = self.context.get("request")
        if request is None or not selectors.store_feed_visible(user=request.user, switches=switches):
            return ""
        return request.build_absolute_uri(reverse("repricer-price-list", args=[switches.feed_token]))


class StoreRepricingViewSet(
    MerchantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    """One row per Kaspi store (created with the store's first rule)."""

    merchant_field = "store__merchant"
    queryset = selectors.store_switches_all()
    serializer_class = StoreRepricingSerializer
    filterset_fields = ["store", "is_paused", "dry_run"]

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        data = serializer.validated_data
        serializer.instance = operations.store_switches_update(
            store=cast(StoreRepricing, serializer.instance).store,
            is_paused=data.get("is_paused"),
            dry_run=data.get("dry_run"),
        )

    @action(detail=True, methods=["post"], url_path="reprice-now")
    def reprice_now(self, request: Request, pk: str | None = None) -> Response:
        switches = self.get_object()
        body = RepriceNowInput(data=request.data)
        body.is_valid(raise_exception=True)
        queued = operations.reprice_store_now(store=switches.store, dry_run=body.validated_data["dry_run"])
        return Response({"queued": queued, "dry_run": body.validated_data["dry_run"]}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"], url_path="rotate-price-list-url")
    def rotate_price_list_url(self, request: Request, pk: str | None = None) -> Response:
        """A new secret price-list URL; the old one stops working at once (give Kaspi the new one)."""
        switches = operations.feed_token_rotate(store=self.get_object().store)
        return Response(self.get_serializer(switches).data)

    @action(detail=True, methods=["post"], url_path="clear-rate-limit")
    def clear_rate_limit(self, request: Request, pk: str | None = None) -> Response:
        switches = operations.store_rate_limit_clear(store=self.get_object().store)
        return Response(self.get_serializer(switches).data)
