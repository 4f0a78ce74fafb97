"""Owner API under /api/v1/marketplaces/kaspi/ (SPEC MKT-1, MKT-7): stores (secrets write-only, session
state, "log in now", "sync now", the failed-login screenshot), products, orders (+ accept), preorders.
Every queryset is scoped to the caller's merchants; writes need the owner or manager role."""

from __future__ import annotations

from typing import Any, cast

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from core.api.accounts import AccountViewSet
from core.api.tenancy import MerchantField, MerchantScopedMixin
from core.api.views import SyncRunOutput
from core.exceptions import IntegrationError
from core.selectors import merchants_for_user

from . import selectors
from .models import KaspiOrder, KaspiOrderEntry, KaspiProduct, KaspiStore, Preorder
from .services import orders as orders_service
from .services import preorders as preorders_service
from .services import stores as stores_service


class KaspiUnavailable(APIException):
    status_code = status.HTTP_502_BAD_GATEWAY
    default_code = "kaspi_unavailable"
    default_detail = _("Kaspi did not answer; try again later.")


class KaspiRefused(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_code = "kaspi_refused"
    default_detail = _("Kaspi refused the request.")


def _kaspi_error(exc: IntegrationError) -> APIException:
    return KaspiRefused(str(exc)) if exc.permanent else KaspiUnavailable(str(exc))


class StoreSerializer(serializers.ModelSerializer):
    merchant = MerchantField()
    shop_api_token = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500, style={"input_type": "password"}
    )
    cabinet_email = serializers.EmailField(write_only=True, required=False, allow_blank=True)
    cabinet_password = serializers.CharField(
        write_only=True, required=False, allow_blank=True, max_length=500, style={"input_type": "password"}
    )
    has_shop_api_token = serializers.SerializerMethodField()
    has_cabinet_login = serializers.SerializerMethodField()
    has_screenshot = serializers.SerializerMethodField()

    class Meta:
        model = KaspiStore
        fields = [
            "id",
            "merchant",
            "name",
            "merchant_uid",
            "shop_api_token",
            "cabinet_email",
            "cabinet_password",
            "has_shop_api_token",
            "has_cabinet_login",
            "is_active",
            "session_state",
            "session_reason",
            "has_screenshot",
            "session_logged_in_at",
            "session_checked_at",
            "products_count",
            "last_error",
            "last_products_sync_at",
            "last_orders_sync_at",
            "created_at",
        ]
        read_only_fields = [
            "session_state",
            "session_reason",
            "session_logged_in_at",
            "session_checked_at",
            "products_count",
            "last_error",
            "last_products_sync_at",
            "last_orders_sync_at",
            "created_at",
        ]
        # The model's unique constraint is enforced by full_clean in the service (a clear 400 either way).
        validators: list[Any] = []

    def get_has_shop_api_token(self, store: KaspiStore) -> bool:
        return bool(store.shop_api_token)

    def get_has_cabinet_login(self, store: KaspiStore) -> bool:
        return bool(store.cabinet_email and store.cabinet_password)

    def get_has_screenshot(self, store: KaspiStore) -> bool:
        return bool(store.session_screenshot)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and "merchant" in attrs and attrs["merchant"] != self.instance.merchant:
            raise ValidationError({"merchant": [gettext("A store cannot move to another merchant.")]})
        uid = attrs.get("merchant_uid")
        if (
            uid
            and KaspiStore.objects.filter(merchant_uid=uid).exclude(pk=getattr(self.instance, "pk", 0) or 0).exists()
        ):
            raise ValidationError({"merchant_uid": [gettext("Another store already uses this Kaspi merchant id.")]})
        return attrs


class ProductOutput(serializers.ModelSerializer):
    class Meta:
        model = KaspiProduct
        fields = [
            "id",
            "store",
            "sku",
            "kaspi_product_id",
            "name",
            "brand",
            "category",
            "image_url",
            "shop_link",
            "price",
            "availabilities",
            "city_prices",
            "is_available",
            "is_active",
            "last_seen_at",
        ]


class EntryOutput(serializers.ModelSerializer):
    class Meta:
        model = KaspiOrderEntry
        fields = [
            "entry_number",
            "sku",
            "name",
            "kaspi_product_id",
            "quantity",
            "base_price",
            "total_price",
            "delivery_cost",
        ]


class OrderOutput(serializers.ModelSerializer):
    entries = EntryOutput(many=True, read_only=True)

    class Meta:
        model = KaspiOrder
        fields = [
            "id",
            "store",
            "kaspi_id",
            "code",
            "state",
            "status",
            "total_price",
            "payment_mode",
            "delivery_mode",
            "is_kaspi_delivery",
            "customer_name",
            "customer_phone",
            "creation_date",
            "planned_delivery_date",
            "accepted_at",
            "entries",
        ]


class StoreField(serializers.PrimaryKeyRelatedField):
    """A store of a merchant the caller may write to; others are "does not exist" (no existence leak)."""

    def get_queryset(self) -> QuerySet[KaspiStore]:
        request = self.context.get("request")
        if request is None:
            return KaspiStore.objects.none()
        return KaspiStore.objects.filter(merchant__in=merchants_for_user(user=request.user, write=True))


class PreorderSerializer(serializers.ModelSerializer):
    store = StoreField()

    class Meta:
        model = Preorder
        fields = [
            "id",
            "store",
            "product",
            "article",
            "name",
            "brand",
            "price",
            "warehouses",
            "delivery_days",
            "status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["product", "created_at", "updated_at"]
        validators: list[Any] = []

    def validate_price(self, value: int) -> int:
        try:
            preorders_service.preorder_price_check(price=value)
        except DjangoValidationError as exc:
            raise ValidationError(exc.message_dict["price"]) from exc
        return value

    def validate_warehouses(self, value: Any) -> Any:
        if not isinstance(value, list) or not all(isinstance(item, (dict, str)) for item in value):
            raise ValidationError(gettext('A list of pickup points, e.g. [{"storeId": "123_PP1", "available": true}].'))
        return value

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.instance is not None and "store" in attrs and attrs["store"] != self.instance.store:
            raise ValidationError({"store": [gettext("A preorder cannot move to another store.")]})
        store = attrs.get("store", getattr(self.instance, "store", None))
        article = attrs.get("article", getattr(self.instance, "article", None))
        if (
            store
            and article
            and Preorder.objects.filter(store=store, article=article)
            .exclude(pk=getattr(self.instance, "pk", 0) or 0)
            .exists()
        ):
            raise ValidationError({"article": [gettext("This store already has a preorder for this article.")]})
        return attrs


class StoreViewSet(AccountViewSet):
    """No DELETE (it would cascade the store's products, orders and preorders): ``is_active: false``."""

    queryset = KaspiStore.objects.select_related("merchant").order_by("name", "id")
    serializer_class = StoreSerializer
    filterset_fields = ["merchant", "is_active", "session_state"]
    save = staticmethod(stores_service.store_save)

    @action(detail=True, methods=["post"])
    def login(self, request: Request, pk: str | None = None) -> Response:
        """Log in now: a real browser logs in (in a worker); the store's session_state tells the result."""
        store = self.get_object()
        stores_service.login_request(store=store)
        return Response({"queued": True, "store": store.pk}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["post"])
    def sync(self, request: Request, pk: str | None = None) -> Response:
        """Sync now: queues a products run (with a cabinet login) and an orders run (with a Shop API token)."""
        store = self.get_object()
        try:
            runs = stores_service.sync_now(store=store)
        except stores_service.NothingToSync as exc:
            raise ValidationError(str(exc)) from exc
        return Response({"runs": SyncRunOutput(runs, many=True).data}, status=status.HTTP_202_ACCEPTED)

    @action(detail=True, methods=["get"])
    def screenshot(self, request: Request, pk: str | None = None) -> FileResponse:
        """The PNG the browser showed when the last login failed."""
        store = self.get_object()
        name = store.session_screenshot.name if store.session_screenshot else ""
        if not name or not default_storage.exists(name):
            raise NotFound(gettext("No screenshot: the last login did not fail."))
        return FileResponse(default_storage.open(name, "rb"), content_type="image/png")


class ProductViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    merchant_field = "store__merchant"
    queryset = KaspiProduct.objects.order_by("store_id", "sku")
    serializer_class = ProductOutput
    filterset_fields = ["store", "is_active", "is_available", "sku", "kaspi_product_id"]
    ordering_fields = ["sku", "price", "last_seen_at"]


class OrderViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    merchant_field = "store__merchant"
    queryset = KaspiOrder.objects.prefetch_related("entries").order_by("-creation_date", "-id")
    serializer_class = OrderOutput
    filterset_fields = ["store", "state", "status", "code"]
    ordering_fields = ["creation_date", "total_price"]

    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        """Accept the order at Kaspi (ACCEPTED_BY_MERCHANT); accepting it again changes nothing."""
        order = self.get_object()
        try:
            order = orders_service.order_accept(order=order)
        except IntegrationError as exc:
            raise _kaspi_error(exc) from exc
        return Response(OrderOutput(selectors.order_detail(order_id=order.pk)).data)


class PreorderViewSet(MerchantScopedMixin, viewsets.ModelViewSet):
    merchant_field = "store__merchant"
    queryset = Preorder.objects.select_related("store").order_by("-created_at", "-id")
    serializer_class = PreorderSerializer
    filterset_fields = ["store", "status", "article"]

    def perform_create(self, serializer: serializers.BaseSerializer) -> None:
        serializer.instance = preorders_service.preorder_create(**serializer.validated_data)

    def perform_update(self, serializer: serializers.BaseSerializer) -> None:
        data = dict(serializer.validated_data)
        data.pop("store", None)
        serializer.instance = preorders_service.preorder_update(preorder=cast(Preorder, serializer.instance), **data)
