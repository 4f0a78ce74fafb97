"""Owner API under /api/v1/payments/: devices and drinks CRUD, orders with history, refunds."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext
from django_filters import rest_framework as filters
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.filters import UtcIsoDateTimeFilter
from core.api.tenancy import MerchantField, MerchantScopedMixin

from .models import BrewCommand, Device, Drink, Order, OrderEvent, Payment, Refund
from .services import catalog
from .services.brew import device_health
from .services.settlement import money_back


class DeviceSerializer(serializers.ModelSerializer):
    merchant = MerchantField()

    class Meta:
        model = Device
        fields = [
            "id",
            "merchant",
            "code",
            "name",
            "location",
            "channel",
            "external_id",
            "provider",
            "ack_timeout_seconds",
            "is_active",
            "created_at",
        ]
        read_only_fields = ["created_at"]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        catalog.device_check(
            instance=self.instance,
            merchant=attrs.get("merchant"),
            channel=attrs.get("channel", getattr(self.instance, "channel", Device.Channel.TMETR)),
            external_id=attrs.get("external_id", getattr(self.instance, "external_id", "")),
            code=attrs.get("code", getattr(self.instance, "code", "")),
        )
        return attrs


class DrinkSerializer(serializers.ModelSerializer):
    merchant = MerchantField()

    class Meta:
        model = Drink
        fields = [
            "id",
            "merchant",
            "device",
            "name",
            "external_id",
            "price_small",
            "price_medium",
            "price_big",
            "vat_code",
            "is_active",
        ]

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        catalog.drink_check_values(catalog.drink_values(self.instance, attrs))
        return attrs

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        request = self.context.get("request")
        if request is not None and "device" in fields:
            from core.selectors import scope_to_user

            fields["device"].queryset = scope_to_user(Device.objects.all(), user=request.user)  # type: ignore[attr-defined]
        return fields


class PaymentOut(serializers.ModelSerializer):
    class Meta:
        model = Payment
        fields = ["provider", "provider_payment_id", "amount", "status", "two_stage", "settlement", "created_at"]


class RefundOut(serializers.ModelSerializer):
    class Meta:
        model = Refund
        fields = ["kind", "amount", "reason", "status", "attempts", "error", "created_at", "finished_at"]


class BrewOut(serializers.ModelSerializer):
    class Meta:
        model = BrewCommand
        fields = ["command_id", "channel", "status", "attempts", "error", "sent_at", "accepted_at", "finished_at"]


class EventOut(serializers.ModelSerializer):
    class Meta:
        model = OrderEvent
        fields = ["kind", "from_status", "to_status", "note", "at"]


class OrderListOut(serializers.ModelSerializer):
    class Meta:
        model = Order
        fields = [
            "id",
            "merchant",
            "device",
            "drink_name",
            "size",
            "amount",
            "status",
            "machine_order_id",
            "created_at",
            "expires_at",
        ]


class OrderDetailOut(OrderListOut):
    payment = PaymentOut(read_only=True)
    refund = serializers.SerializerMethodField()
    brew = BrewOut(read_only=True)
    events = EventOut(many=True, read_only=True)

    class Meta(OrderListOut.Meta):
        fields = [*OrderListOut.Meta.fields, "error", "payment", "refund", "brew", "events"]

    def get_refund(self, order: Order) -> dict[str, Any] | None:
        refund = Refund.objects.filter(payment__order=order).first()
        return RefundOut(refund).data if refund else None


class RefundIn(serializers.Serializer):
    reason = serializers.CharField(max_length=200, required=False, default="refund by the owner")


class OrderFilter(filters.FilterSet):
    created_from = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_to = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["status", "device", "merchant"]


class DeviceViewSet(MerchantScopedMixin, viewsets.ModelViewSet):
    queryset = Device.objects.select_related("merchant").order_by("name", "id")
    serializer_class = DeviceSerializer
    filterset_fields = ["is_active", "channel", "merchant"]

    @action(detail=True, methods=["get"])
    def health(self, request: Request, pk: str | None = None) -> Response:
        """Online or not: the Tmetr heartbeat, or the last MQTT acknowledgement."""
        return Response(device_health(device=self.get_object()))

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        with catalog.device_address_taken_is_invalid():
            super().perform_create(serializer)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        with catalog.device_address_taken_is_invalid():
            super().perform_update(serializer)

    def perform_destroy(self, instance: Device) -> None:
        catalog.device_delete(device=instance)


class DrinkViewSet(MerchantScopedMixin, viewsets.ModelViewSet):
    queryset = Drink.objects.select_related("merchant", "device").order_by("name", "id")
    serializer_class = DrinkSerializer
    filterset_fields = ["device", "is_active", "merchant"]


class OrderViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = (
        Order.objects.select_related("device", "payment", "brew").prefetch_related("events").order_by("-created_at")
    )
    filterset_class = OrderFilter
    ordering_fields = ["created_at", "amount"]

    def get_serializer_class(self) -> type[serializers.BaseSerializer]:
        if self.action == "list":
            return OrderListOut
        if self.action == "refund":
            return RefundIn
        return OrderDetailOut

    @action(detail=True, methods=["post"])
    def refund(self, request: Request, pk: str | None = None) -> Response:
        order = self.get_object()
        self.check_object_permissions(request, order)
        data = RefundIn(data=request.data)
        data.is_valid(raise_exception=True)
        payment = Payment.objects.filter(order=order).first()
        if payment is None or not payment.holds_money:
            raise ValidationError({"order": [gettext("Nothing was paid for this order.")]})
        refund = money_back(payment_id=payment.pk, reason=data.validated_data["reason"], after_capture=True)
        if refund is None:
            raise ValidationError(
                {"order": [gettext("The money of this order is already being returned or was returned.")]}
            )
        return Response(RefundOut(refund).data, status=status.HTTP_202_ACCEPTED)
