"""Owner API of the eMAG app (SPEC MKT-2 … MKT-6) under /api/v1/marketplaces/emag/.

accounts/ (credentials write-only; ``callback_url`` is what to paste into eMAG), accounts/{id}/sync/,
orders/ (+ acknowledge/, cancel/), offers/ (PATCH price or stock), and the 11 management endpoints
under management/. Every read is scoped to the caller's merchants; writes need owner or manager.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from django.conf import settings
from django.urls import reverse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api import accounts as accounts_api
from core.api.errors import error_body
from core.api.tenancy import MerchantField, MerchantScopedMixin, account_pick_required

from . import selectors
from .clients.emag import EmagError, EmagValidationError
from .models import EmagAccount, EmagBackup, EmagOffer, EmagOrder, EmagOrderItem
from .services import accounts, backups, monitoring, offers, orders

T = TypeVar("T")
BIGINT_MAX = 2**63 - 1


def emag_call(fn: Callable[[], T]) -> T:
    """Run a service call; eMAG's refusals become the JSON error shape, never a 500."""
    try:
        return fn()
    except EmagValidationError as exc:
        raise exceptions.ValidationError(exc.fields or {"non_field_errors": [str(exc.args[0])]}) from exc
    except EmagError as exc:
        raise EmagUnavailable(f"eMAG: {exc.args[0]}") from exc


class EmagUnavailable(exceptions.APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "emag_error"
    default_detail = _("eMAG did not accept the request.")


# --- accounts ----------------------------------------------------------------------------------------------
class AccountSerializer(serializers.ModelSerializer):
    merchant = MerchantField()
    api_user = serializers.CharField(write_only=True, max_length=200)
    api_password = serializers.CharField(write_only=True, max_length=200, style={"input_type": "password"})
    callback_url = serializers.SerializerMethodField()

    class Meta:
        model = EmagAccount
        fields = [
            "id",
            "merchant",
            "name",
            "platform",
            "api_user",
            "api_password",
            "is_active",
            "callback_url",
            "last_sync_at",
            "last_error",
            "backup_enabled",
            "backup_retention_days",
            "created_at",
        ]
        read_only_fields = ["last_sync_at", "last_error", "created_at"]

    def get_fields(self) -> dict[str, Any]:
        fields = super().get_fields()
        if self.instance is not None:  # updates keep the stored credentials unless new ones are given
            fields["api_user"].required = fields["api_password"].required = False
        return fields

    def get_callback_url(self, account: EmagAccount) -> str:
        # What to paste into eMAG's seller portal: the site's public address, not this request's host.
        return settings.PUBLIC_BASE_URL.rstrip("/") + reverse("emag-callback", args=[account.callback_token])


class BulkSaveInput(serializers.Serializer):
    orders = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=1000)


class AccountViewSet(accounts_api.AccountViewSet):
    """No DELETE (it would cascade the account's orders, offers and backups): ``is_active: false``."""

    queryset = EmagAccount.objects.select_related("merchant").order_by("name", "id")
    serializer_class = AccountSerializer
    save = staticmethod(accounts.emag_account_save)

    @extend_schema(request=None, responses={202: dict})
    @action(detail=True, methods=["post"])
    def sync(self, request: Request, pk: str | None = None) -> Response:
        account = self.get_object()
        self.check_object_permissions(request, account)
        run = orders.sync_request(account=account)
        return Response(
            {
                "ok": True,
                "run_id": run.pk,
                "status": run.status,
                "message": "Order sync queued; follow it at /api/v1/sync-runs/.",
            },
            status=202,
        )

    @extend_schema(request=BulkSaveInput, responses={200: dict})
    @action(detail=True, methods=["post"], url_path="orders-bulk-save")
    def orders_bulk_save(self, request: Request, pk: str | None = None) -> Response:
        """Save many orders (each the whole order as read, with changes); all are validated first and
        nothing is sent when one is bad (MKT-3); sent in batches of at most 50."""
        account = self.get_object()
        self.check_object_permissions(request, account)
        data = BulkSaveInput(data=request.data)
        data.is_valid(raise_exception=True)
        saved = emag_call(lambda: orders.orders_bulk_save(account=account, orders=data.validated_data["orders"]))
        return Response({"ok": True, "saved": saved})


# --- orders --------------------------------------------------------------------------------------------------
class OrderItemSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmagOrderItem
        exclude = ["order", "raw"]


class OrderSerializer(serializers.ModelSerializer):
    items = OrderItemSerializer(many=True, read_only=True)
    status_label = serializers.CharField(read_only=True)
    payment_mode_label = serializers.CharField(read_only=True)
    cancellation_reason_label = serializers.CharField(read_only=True)

    class Meta:
        model = EmagOrder
        exclude = ["raw"]


class OrderFilter(filters.FilterSet):
    class Meta:
        model = EmagOrder
        fields = ["account", "status", "payment_mode_id", "is_storno"]


class CancelInput(serializers.Serializer):
    reason = serializers.IntegerField(min_value=1, max_value=10_000)


class OrderViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    merchant_field = "account__merchant"
    queryset = EmagOrder.objects.select_related("account").prefetch_related("items")
    serializer_class = OrderSerializer
    filterset_class = OrderFilter
    ordering_fields = ["date", "modified", "emag_id"]

    def _write_target(self, request: Request) -> EmagOrder:
        order = self.get_object()
        self.check_object_permissions(request, order)
        return order

    @extend_schema(request=None, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def acknowledge(self, request: Request, pk: str | None = None) -> Response:
        order = self._write_target(request)
        order = emag_call(lambda: orders.order_acknowledge(order=order))
        return Response(OrderSerializer(order).data)

    @extend_schema(request=CancelInput, responses=OrderSerializer)
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        order = self._write_target(request)
        data = CancelInput(data=request.data)
        data.is_valid(raise_exception=True)
        order = emag_call(lambda: orders.order_cancel(order=order, reason=data.validated_data["reason"]))
        return Response(OrderSerializer(order).data)


# --- offers --------------------------------------------------------------------------------------------------
class OfferSerializer(serializers.ModelSerializer):
    class Meta:
        model = EmagOffer
        exclude = ["raw"]


class OfferUpdateInput(serializers.Serializer):
    sale_price = serializers.DecimalField(max_digits=14, decimal_places=4, required=False, min_value=0)
    stock = serializers.IntegerField(required=False, min_value=0, max_value=1_000_000)


class OfferViewSet(MerchantScopedMixin, mixins.UpdateModelMixin, viewsets.ReadOnlyModelViewSet):
    merchant_field = "account__merchant"
    queryset = EmagOffer.objects.select_related("account")
    serializer_class = OfferSerializer
    filterset_fields = ["account", "buy_button_rank", "status"]
    http_method_names = ["get", "patch", "head", "options"]

    @extend_schema(request=OfferUpdateInput, responses=OfferSerializer)
    def partial_update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        offer = self.get_object()
        self.check_object_permissions(request, offer)
        data = OfferUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        offer = emag_call(
            lambda: offers.offer_update(offer=offer, sale_price=values.get("sale_price"), stock=values.get("stock"))
        )
        return Response(OfferSerializer(offer).data)


# --- management (MKT-5, MKT-6) -----------------------------------------------------------------------------
ACCOUNT_PARAM = OpenApiParameter(
    "account", int, required=False, description="eMAG account id (optional when the caller has exactly one)"
)


class AccountChoice(serializers.Serializer):
    account = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)


class ManagementView(APIView):
    permission_classes = [IsAuthenticated]
    write = False

    def account(self, request: Request) -> EmagAccount:
        source = request.data if request.method == "POST" and hasattr(request.data, "get") else request.query_params
        raw = source.get("account") if hasattr(source, "get") else None
        choice = AccountChoice(data={"account": raw} if raw not in (None, "") else {})
        choice.is_valid(raise_exception=True)
        return account_pick_required(  # type: ignore[no-any-return]
            readable=selectors.accounts_for_user(user=request.user),
            writable=selectors.accounts_for_user(user=request.user, write=True),
            pk=choice.validated_data.get("account"),
            write=self.write,
            missing=gettext("No active eMAG account is configured for your merchant."),
        )


class HealthView(ManagementView):
    @extend_schema(parameters=[ACCOUNT_PARAM], responses=dict)
    def get(self, request: Request) -> Response:
        return Response(monitoring.health_get(account=self.account(request)))


class MetricsView(ManagementView):
    @extend_schema(parameters=[ACCOUNT_PARAM, OpenApiParameter("minutes", int, required=False)], responses=dict)
    def get(self, request: Request) -> Response:
        minutes = serializers.IntegerField(min_value=1, max_value=120, required=False)
        raw = request.query_params.get("minutes")
        value = minutes.run_validation(raw) if raw not in (None, "") else None
        return Response(monitoring.metrics_get(account=self.account(request), minutes=value))


class SyncStatsView(ManagementView):
    @extend_schema(parameters=[ACCOUNT_PARAM], responses=dict)
    def get(self, request: Request) -> Response:
        return Response(monitoring.sync_stats(account=self.account(request)))


class ProductStatsView(ManagementView):
    @extend_schema(parameters=[ACCOUNT_PARAM], responses=dict)
    def get(self, request: Request) -> Response:
        return Response(monitoring.product_stats(account=self.account(request)))


class RateLimiterStatsView(ManagementView):
    @extend_schema(parameters=[ACCOUNT_PARAM], responses=dict)
    def get(self, request: Request) -> Response:
        return Response(monitoring.limiter_stats(account=self.account(request)))


class RateLimiterResetView(ManagementView):
    write = True

    @extend_schema(request=AccountChoice, responses=dict)
    def post(self, request: Request) -> Response:
        return Response(monitoring.limiter_reset(account=self.account(request)))


class BackupOutput(serializers.ModelSerializer):
    class Meta:
        model = EmagBackup
        fields = ["id", "account", "kind", "file_name", "size_bytes", "sha256", "counts", "created_at"]


class BackupCreateView(ManagementView):
    write = True

    @extend_schema(request=AccountChoice, responses=BackupOutput)
    def post(self, request: Request) -> Response:
        backup = backups.backup_create(account=self.account(request))
        return Response(BackupOutput(backup).data, status=201)


class BackupListView(ManagementView):
    @extend_schema(parameters=[ACCOUNT_PARAM], responses=BackupOutput(many=True))
    def get(self, request: Request) -> Response:
        rows = selectors.backups_for_account(account=self.account(request))[:500]
        return Response({"results": BackupOutput(rows, many=True).data})


class CleanupInput(AccountChoice):
    retention_days = serializers.IntegerField(required=False, min_value=0, max_value=3650)


class BackupCleanupView(ManagementView):
    write = True

    @extend_schema(request=CleanupInput, responses=dict)
    def post(self, request: Request) -> Response:
        data = CleanupInput(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            backups.backups_cleanup(
                account=self.account(request), retention_days=data.validated_data.get("retention_days")
            )
        )


class RestoreInput(AccountChoice):
    backup = serializers.IntegerField(min_value=1, max_value=BIGINT_MAX)


class BackupRestoreView(ManagementView):
    write = True

    @extend_schema(request=RestoreInput, responses=dict)
    def post(self, request: Request) -> Response:
        data = RestoreInput(data=request.data)
        data.is_valid(raise_exception=True)
        account = self.account(request)
        backup = selectors.backups_for_account(account=account).filter(pk=data.validated_data["backup"]).first()
        if backup is None:
            raise exceptions.NotFound(gettext("No such backup for this account."))
        try:
            return Response(backups.backup_restore(backup=backup))
        except (OSError, ValueError) as exc:
            return Response(
                error_body("backup_unreadable", gettext("The backup cannot be restored: %(error)s") % {"error": exc}),
                status=409,
            )


class ScheduleInput(AccountChoice):
    enabled = serializers.BooleanField(required=False)
    retention_days = serializers.IntegerField(required=False, min_value=1, max_value=3650)


class BackupScheduleView(ManagementView):
    @extend_schema(parameters=[ACCOUNT_PARAM], responses=dict)
    def get(self, request: Request) -> Response:
        return Response(backups.backup_schedule(account=self.account(request)))

    @extend_schema(request=ScheduleInput, responses=dict)
    def post(self, request: Request) -> Response:
        self.write = True
        data = ScheduleInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        return Response(
            backups.backup_schedule_update(
                account=self.account(request),
                enabled=values.get("enabled"),
                retention_days=values.get("retention_days"),
            )
        )
