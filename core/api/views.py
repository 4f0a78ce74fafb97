"""Core endpoints: token, current user with memberships, sync runs (SPEC PLAT-7, PLAT-8)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.signals import user_logged_in
from django.db.models import QuerySet
from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import exceptions, mixins, parsers, serializers, viewsets
from rest_framework.authtoken.serializers import AuthTokenSerializer
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core import jsonsafe, tokens
from core.api.tenancy import MerchantScopedMixin
from core.auth import LOCKED_MESSAGE, lockout_seconds
from core.models import ApiToken, Membership, SyncRun


class TokenInput(AuthTokenSerializer):
    client = serializers.RegexField(
        r"^[A-Za-z0-9._-]{1,64}$",
        required=False,
        default="default",
        help_text="Names the client (a script, an app); a new login of the same client replaces its token.",
    )


class TokenOutput(serializers.Serializer):
    id = serializers.IntegerField()
    client = serializers.CharField()
    created = serializers.DateTimeField()
    expiry = serializers.DateTimeField(allow_null=True)


class TokenView(APIView):
    """POST username + password (+ client) → {"token": "...", "expiry": ...}; send it as
    `Authorization: Token <token>`. Failed logins are limited per username and per client address
    (django-axes): past the limit, 429 with Retry-After (core.auth)."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []
    # The JSON parser from core.jsonsafe (REL-3), as everywhere.
    parser_classes = (parsers.FormParser, parsers.MultiPartParser, jsonsafe.JSONParser)

    @extend_schema(
        request=inline_serializer(
            "TokenRequest",
            {
                "username": serializers.CharField(),
                "password": serializers.CharField(),
                "client": serializers.CharField(required=False),
            },
        ),
        responses=inline_serializer(
            "TokenResponse",
            {
                "token": serializers.CharField(),
                "id": serializers.IntegerField(),
                "client": serializers.CharField(),
                "expiry": serializers.DateTimeField(),
            },
        ),
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = TokenInput(data=request.data, context={"request": request})
        valid = serializer.is_valid()
        # django-axes marks the request it saw in authenticate() (this DRF request) when it refused it.
        if getattr(request, "axes_locked_out", False):
            raise exceptions.Throttled(wait=lockout_seconds(request._request), detail=str(LOCKED_MESSAGE))
        if not valid:
            raise exceptions.ValidationError(serializer.errors)
        user = serializer.validated_data["user"]
        try:
            instance, secret = tokens.api_token_create(user=user, client=serializer.validated_data["client"])
        except tokens.TokenLimitReached as exc:
            raise exceptions.PermissionDenied(str(exc)) from exc
        # As a session login does: last_login, and axes' log of successful logins.
        user_logged_in.send(sender=type(user), request=request, user=user)
        return Response({"token": secret, **TokenOutput(instance).data})


class TokenViewSet(mixins.ListModelMixin, mixins.DestroyModelMixin, viewsets.GenericViewSet):
    """The caller's own live tokens (never their secrets); DELETE revokes one (the current one too)."""

    serializer_class = TokenOutput
    pagination_class = None
    queryset = ApiToken.objects.none()  # for the schema; get_queryset scopes to the caller

    def get_queryset(self) -> QuerySet[ApiToken]:
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return tokens.api_tokens_live(user=self.request.user)  # type: ignore[arg-type]

    def perform_destroy(self, instance: ApiToken) -> None:
        tokens.api_token_revoke(user=self.request.user, token_id=instance.pk)  # type: ignore[arg-type]


class MembershipOutput(serializers.ModelSerializer):
    merchant_name = serializers.CharField(source="merchant.name")

    class Meta:
        model = Membership
        fields = ["merchant", "merchant_name", "role"]


@extend_schema(
    responses=inline_serializer(
        "Me",
        {
            "id": serializers.IntegerField(),
            "username": serializers.CharField(),
            "memberships": MembershipOutput(many=True),
        },
    )
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def me(request: Request) -> Response:
    memberships = Membership.objects.filter(user_id=int(request.user.pk or 0)).select_related("merchant")
    return Response(
        {
            "id": request.user.pk,
            "username": request.user.get_username(),
            "memberships": MembershipOutput(memberships, many=True).data,
        }
    )


class SyncRunOutput(serializers.ModelSerializer):
    # The id of the synced account, as text ("" for none): the field's shape from before runs had a
    # relation to their account.
    account_ref = serializers.SerializerMethodField()
    progress_percent = serializers.FloatField(read_only=True, allow_null=True)
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "merchant",
            "kind",
            "mode",
            "account_ref",
            "status",
            "started_at",
            "finished_at",
            "items_done",
            "items_total",
            "progress_percent",
            "duration_seconds",
            "counters",
            "error",
            "attempts",
            "created_at",
        ]

    def get_account_ref(self, run: SyncRun) -> str:
        return "" if run.account_id is None else str(run.account_id)


class SyncRunFilter(filters.FilterSet):
    kind = filters.CharFilter(field_name="kind", lookup_expr="startswith")

    class Meta:
        model = SyncRun
        fields = ["kind", "status", "merchant"]


class SyncRunViewSet(MerchantScopedMixin, viewsets.ReadOnlyModelViewSet):
    """Every sync of every app, newest first, with progress ("items_done of items_total")."""

    queryset = SyncRun.objects.select_related("merchant").order_by("-created_at", "-id")
    serializer_class = SyncRunOutput
    filterset_class = SyncRunFilter
    ordering_fields = ["created_at", "finished_at"]
