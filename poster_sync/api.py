"""Owner API of poster_sync (SPEC POS-5).

GET  /api/v1/poster/sync   → {"status": {"suppliers": {"lastSyncAt", "needsSync", "age"}, ...}}
POST /api/v1/poster/sync   {"entities": [...], "force": bool} → 202 with the queued runs; 429 +
                           Retry-After when a manual sync of an entity was started moments ago
GET  /api/v1/poster/{accounts,suppliers,ingredients,storages,categories,ingredient-categories,webhook-logs}/
POST /api/v1/poster/accounts/connect/   {"merchant": id?} → {"authorize_url", "expires_in"}: open the URL
                           to connect (or reconnect) a Poster account through OAuth (SPEC POS-1)
POST /api/v1/poster/webhook-logs/{id}/retry/   a failed delivery processed again (202; 409 if not failed)
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db.models import Model
from django.urls import reverse
from django.utils.translation import gettext
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.errors import error_body
from core.api.tenancy import MerchantRolePermission, MerchantScopedMixin, account_pick_required
from core.selectors import merchants_for_user

from . import selectors
from .models import (
    Category,
    Ingredient,
    IngredientCategory,
    PosterAccount,
    Storage,
    Supplier,
    WebhookLog,
    WebhookStatus,
)
from .services import sync, webhooks
from .services.accounts import ConnectError, merchants_connectable, oauth_redirect_uri, oauth_start

BIGINT_MAX = 2**63 - 1


class AccountInput(serializers.Serializer):
    account = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)


class SyncInput(AccountInput):
    entities = serializers.ListField(
        child=serializers.ChoiceField(choices=sync.ENTITY_NAMES),
        required=False,
        allow_empty=True,
        max_length=len(sync.ENTITY_NAMES) * 2,
    )
    force = serializers.BooleanField(required=False, default=False)


def _pick_account(request: Request, account_id: int | None, *, write: bool) -> PosterAccount:
    readable = selectors.accounts_for_user(user=request.user).select_related("merchant")
    writable = selectors.accounts_for_user(user=request.user, write=True).select_related("merchant")
    return account_pick_required(  # type: ignore[no-any-return]
        readable=readable,
        writable=writable,
        pk=account_id,
        write=write,
        missing=gettext("No Poster account is connected to your merchant."),
    )


ENTITY_STATUS = inline_serializer(
    "PosterEntityStatus",
    {
        "lastSyncAt": serializers.DateTimeField(allow_null=True),
        "needsSync": serializers.BooleanField(),
        "age": serializers.IntegerField(allow_null=True, help_text="minutes since the last successful sync"),
    },
)


class SyncView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("account", int, required=False)],
        responses=inline_serializer("PosterSyncStatus", {"status": serializers.DictField(child=ENTITY_STATUS)}),
    )
    def get(self, request: Request) -> Response:
        params = AccountInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        account = _pick_account(request, params.validated_data.get("account"), write=False)
        return Response({"status": sync.sync_status(account=account)})

    @extend_schema(
        request=SyncInput,
        responses={
            202: inline_serializer(
                "PosterSyncQueued",
                {
                    "runs": serializers.DictField(
                        child=serializers.IntegerField(allow_null=True),
                        help_text="entity → queued SyncRun id, null when fresh (smart sync)",
                    ),
                    "force": serializers.BooleanField(),
                },
            )
        },
    )
    def post(self, request: Request) -> Response:
        params = SyncInput(data=request.data)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        account = _pick_account(request, data.get("account"), write=True)
        try:
            runs = sync.sync_request(account=account, entities=data.get("entities") or None, force=data["force"])
        except sync.SyncRateLimited as exc:
            response = Response(
                error_body("rate_limited", str(exc), {"entities": [exc.entity]}),
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
            response["Retry-After"] = str(exc.retry_after)
            return response
        return Response(
            {"runs": {entity: (run.pk if run else None) for entity, run in runs.items()}, "force": data["force"]},
            status=status.HTTP_202_ACCEPTED,
        )


# --- read endpoints ------------------------------------------------------------------------------------------


class AccountOutput(serializers.ModelSerializer):
    class Meta:
        model = PosterAccount
        # Never the token (PLAT-5).
        fields = [
            "id",
            "merchant",
            "account",
            "account_number",
            "source",
            "is_active",
            "needs_reconnect",
            "last_error",
            "connected_at",
            "created_at",
        ]


class ConnectInput(serializers.Serializer):
    merchant = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)


class AccountViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    queryset = PosterAccount.objects.order_by("id")
    serializer_class = AccountOutput
    filterset_fields = ["merchant", "is_active"]

    @extend_schema(
        request=ConnectInput,
        responses={
            200: inline_serializer(
                "PosterConnectStart",
                {
                    "authorize_url": serializers.URLField(help_text="open it in the browser to approve at Poster"),
                    "merchant": serializers.IntegerField(),
                    "expires_in": serializers.IntegerField(help_text="seconds the request stays valid"),
                },
            )
        },
    )
    @action(detail=False, methods=["post"], url_path="connect")
    def connect(self, request: Request) -> Response:
        """Start connecting Poster: the URL of Poster's approval page, bound to your merchant (single-use)."""
        params = ConnectInput(data=request.data)
        params.is_valid(raise_exception=True)
        wanted = params.validated_data.get("merchant")
        writable = merchants_connectable(user=request.user)
        if wanted is not None:
            merchant = next((m for m in writable if m.pk == wanted), None)
            if merchant is None:
                if merchants_for_user(user=request.user).filter(pk=wanted).exists():
                    raise PermissionDenied(MerchantRolePermission.message)
                raise NotFound(gettext("No such merchant."))
        elif len(writable) == 1:
            merchant = writable[0]
        elif writable:
            raise serializers.ValidationError({"merchant": [gettext("You have several merchants: choose one.")]})
        elif merchants_for_user(user=request.user).exists():
            raise PermissionDenied(MerchantRolePermission.message)
        else:
            raise NotFound(gettext("You belong to no merchant."))
        redirect_uri = oauth_redirect_uri(default=request.build_absolute_uri(reverse("poster-oauth-callback")))
        try:
            url = oauth_start(user=request.user, merchant=merchant, redirect_uri=redirect_uri)
        except ConnectError as exc:
            # 409, not 5xx: the request is fine, this installation has no Poster application (REL-3).
            return Response(error_body("not_configured", str(exc)), status=status.HTTP_409_CONFLICT)
        return Response(
            {"authorize_url": url, "merchant": merchant.pk, "expires_in": settings.POSTER_OAUTH_STATE_SECONDS}
        )


COMMON = ["id", "account", "poster_id", "name", "raw", "removed_at", "synced_at"]


def _output(model: type[Model], extra: list[str]) -> type[serializers.ModelSerializer]:
    meta = type("Meta", (), {"model": model, "fields": [*COMMON[:4], *extra, *COMMON[4:]]})
    return type(f"Poster{model.__name__}Output", (serializers.ModelSerializer,), {"Meta": meta})


class EntityFilter(filters.FilterSet):
    removed = filters.BooleanFilter(
        field_name="removed_at",
        lookup_expr="isnull",
        exclude=True,
        help_text="true: only removed objects; false: only live ones",
    )
    name = filters.CharFilter(field_name="name", lookup_expr="icontains")
    account = filters.NumberFilter(field_name="account_id")


def _viewset(model: type[Model], extra: list[str]) -> type[viewsets.ReadOnlyModelViewSet]:
    flt = type(
        f"Poster{model.__name__}Filter",
        (EntityFilter,),
        {"Meta": type("Meta", (), {"model": model, "fields": ["account", "removed", "name"]})},
    )
    attrs: dict[str, Any] = {
        "__doc__": f"Poster {model._meta.verbose_name_plural} of your accounts (removed ones have removed_at).",
        "queryset": model._default_manager.order_by("account_id", "poster_id"),
        "serializer_class": _output(model, extra),
        "merchant_field": "account__merchant",
        "filterset_class": flt,
        "ordering_fields": ["poster_id", "name", "synced_at"],
    }
    return type(f"Poster{model.__name__}ViewSet", (MerchantScopedMixin, viewsets.ReadOnlyModelViewSet), attrs)


SupplierViewSet = _viewset(Supplier, ["phone", "address", "comment", "tin"])
IngredientViewSet = _viewset(Ingredient, ["category_poster_id", "unit", "left", "ingredient_type", "hidden"])
StorageViewSet = _viewset(Storage, ["address"])
CategoryViewSet = _viewset(Category, ["parent_poster_id", "hidden", "level", "sort_order"])
IngredientCategoryViewSet = _viewset(IngredientCategory, [])


class WebhookLogOutput(serializers.ModelSerializer):
    error = serializers.CharField(source="last_error", read_only=True)  # the API's name since v1

    class Meta:
        model = WebhookLog
        fields = [
            "id",
            "account",
            "account_name",
            "object",
            "object_id",
            "action",
            "payload",
            "signature_valid",
            "status",
            "attempts",
            "error",
            "received_at",
            "processed_at",
        ]


class WebhookLogFilter(filters.FilterSet):
    status = filters.ChoiceFilter(choices=WebhookStatus.choices)

    class Meta:
        model = WebhookLog
        fields = ["account", "object", "action", "status", "signature_valid"]


class WebhookLogViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Deliveries for your accounts, newest first (forged ones name no account and are staff-only)."""

    queryset = WebhookLog.objects.order_by("-received_at", "-id")
    serializer_class = WebhookLogOutput
    merchant_field = "account__merchant"
    filterset_class = WebhookLogFilter
    ordering_fields = ["received_at"]

    @extend_schema(
        request=None, responses={202: inline_serializer("PosterWebhookRetried", {"id": serializers.IntegerField()})}
    )
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        """Process a failed delivery again (what staff do from the admin); owners and managers only."""
        entry = self.get_object()
        if not webhooks.webhook_retry(log_id=entry.pk):
            return Response(
                error_body(
                    "not_failed",
                    gettext("Only failed deliveries are retried; this one is %(status)s.") % {"status": entry.status},
                ),
                status=status.HTTP_409_CONFLICT,
            )
        return Response({"id": entry.pk}, status=status.HTTP_202_ACCEPTED)
