"""Owner API of alerts (SPEC OWN-3, OWN-4).

GET  /api/v1/alerts/[?open=true]       alerts of the caller's merchants with their deliveries
GET/POST/PUT/PATCH /api/v1/alert-channels/   channels; the secret (bot token, Apprise URL) is write-only
POST /api/v1/alert-channels/{id}/test/ queue a test message
GET/POST/PUT/PATCH /api/v1/alert-settings/   thresholds per merchant
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.accounts import AccountViewSet, SecretFlagsSerializer
from core.api.tenancy import MerchantField, MerchantScopedMixin

from . import selectors
from .models import Alert, AlertChannel, AlertSettings, Delivery
from .services.channels import alert_channel_save, alert_channel_test


class DeliveryOutput(serializers.ModelSerializer):
    class Meta:
        model = Delivery
        fields = [
            "id",
            "channel",
            "event",
            "status",
            "attempts",
            "last_error",
            "created_at",
            "sent_at",
            "next_attempt_at",
        ]


class AlertOutput(serializers.ModelSerializer):
    deliveries = serializers.SerializerMethodField()
    is_open = serializers.BooleanField(read_only=True)

    class Meta:
        model = Alert
        fields = ["id", "merchant", "condition", "subject", "title", "detail", "link", "opened_at", "closed_at",
                  "is_open", "deliveries"]  # fmt: skip

    def get_deliveries(self, alert: Alert) -> list[dict[str, Any]]:
        return DeliveryOutput(selectors.deliveries_of(alert=alert), many=True).data  # type: ignore[return-value]


class AlertViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = Alert.objects.all()
    serializer_class = AlertOutput

    def get_queryset(self) -> Any:
        open_only = self.request.query_params.get("open", "").lower() in ("1", "true", "yes")
        return selectors.alerts_for_user(user=self.request.user, open_only=open_only).order_by("-opened_at", "-id")


def _saved(save: Any, **kwargs: Any) -> Any:
    try:
        return save(**kwargs)
    except DjangoValidationError as exc:
        raise ValidationError(exc.message_dict) from exc


class AlertChannelSerializer(SecretFlagsSerializer):
    merchant = MerchantField()
    secret_fields = ("secret",)

    class Meta:
        model = AlertChannel
        fields = ["id", "merchant", "name", "kind", "telegram_chat_id", "email_to", "is_active", "is_failing",
                  "last_error", "last_sent_at", "created_at"]  # fmt: skip
        read_only_fields = ["is_failing", "last_error", "last_sent_at", "created_at"]


class AlertChannelViewSet(AccountViewSet):
    queryset = AlertChannel.objects.select_related("merchant").order_by("merchant_id", "name", "id")
    serializer_class = AlertChannelSerializer

    @staticmethod
    def save(**kwargs: Any) -> AlertChannel:
        return _saved(alert_channel_save, **kwargs)  # type: ignore[no-any-return]

    @action(detail=True, methods=["post"])
    def test(self, request: Request, pk: str | None = None) -> Response:
        channel = self.get_object()  # another merchant's: 404; a viewer: 403
        if not channel.is_active:
            raise ValidationError({"is_active": [gettext("The channel is switched off.")]})
        delivery = alert_channel_test(channel=channel)
        return Response(DeliveryOutput(delivery).data, status=status.HTTP_202_ACCEPTED)


class AlertSettingsSerializer(serializers.ModelSerializer):
    merchant = MerchantField()

    class Meta:
        model = AlertSettings
        fields = ["id", "merchant", "sync_failures", "brew_failures", "brew_silent_minutes", "emag_ack_minutes",
                  "floor_hours", "emag_health_min", "hourly_cap", "quiet_from", "quiet_to"]  # fmt: skip

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        for name in ("sync_failures", "brew_failures", "brew_silent_minutes", "emag_ack_minutes", "floor_hours",
                     "hourly_cap"):  # fmt: skip
            if name in attrs and not 1 <= attrs[name] <= 1000:
                raise ValidationError({name: [gettext("Give a number from 1 to 1000.")]})
        if "emag_health_min" in attrs and not 1 <= attrs["emag_health_min"] <= 100:
            raise ValidationError({"emag_health_min": [gettext("Give a score from 1 to 100.")]})
        if self.instance is None and AlertSettings.objects.filter(merchant=attrs.get("merchant")).exists():
            raise ValidationError({"merchant": [gettext("This merchant has its settings already: update them.")]})
        if self.instance is not None and attrs.get("merchant", self.instance.merchant) != self.instance.merchant:
            raise ValidationError({"merchant": [gettext("Settings cannot move to another merchant.")]})
        return attrs


class AlertSettingsViewSet(
    MerchantScopedMixin,
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    queryset = AlertSettings.objects.order_by("merchant_id")
    serializer_class = AlertSettingsSerializer
