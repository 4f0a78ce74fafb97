"""Core endpoints: token, current user with memberships, sync runs (SPEC PLAT-7, PLAT-8)."""

from __future__ import annotations

from typing import Any

from django_filters import rest_framework as filters
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import parsers, serializers, viewsets
from rest_framework.authtoken.views import ObtainAuthToken
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from core import jsonsafe
from core.api.tenancy import MerchantScopedMixin
from core.models import Membership, SyncRun


class TokenView(ObtainAuthToken):
    """POST username + password → {"token": "..."}; send it as `Authorization: Token <token>`."""

    # ObtainAuthToken pins DRF's own parsers; the same, with the JSON one from core.jsonsafe (REL-3).
    parser_classes = (parsers.FormParser, parsers.MultiPartParser, jsonsafe.JSONParser)

    @extend_schema(
        request=inline_serializer(
            "TokenRequest", {"username": serializers.CharField(), "password": serializers.CharField()}
        ),
        responses=inline_serializer("TokenResponse", {"token": serializers.CharField()}),
    )
    def post(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().post(request, *args, **kwargs)


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
