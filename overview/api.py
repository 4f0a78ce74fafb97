"""Owner API of the overview (SPEC OWN-1).

GET /api/v1/overview/revenue/?date_from=&date_to=&merchant=&channel=  (``&format=csv`` for CSV)
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import renderers, serializers
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.selectors import merchants_for_user

from . import selectors
from .models import Channel, Kind

DATE_ERROR = "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."
MAX_DAYS = 366
INT_MAX = 2**31 - 1
_CENT = Decimal("0.01")


class CSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> Any:
        return data if isinstance(data, str | bytes) else str(data)


class RevenueInput(serializers.Serializer):
    date_from = serializers.DateField(
        required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": DATE_ERROR}
    )
    date_to = serializers.DateField(required=False, input_formats=["%Y-%m-%d"], error_messages={"invalid": DATE_ERROR})
    merchant = serializers.IntegerField(required=False, min_value=1, max_value=INT_MAX)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        today = timezone.localdate()
        date_to = attrs.get("date_to") or today
        date_from = attrs.get("date_from") or date_to - timedelta(days=29)
        if date_from > date_to:
            raise ValidationError({"date_from": [gettext("date_from is after date_to.")]})
        if (date_to - date_from).days + 1 > MAX_DAYS:
            raise ValidationError(
                {"date_from": [gettext("Ask for at most %(days)s days at a time.") % {"days": MAX_DAYS}]}
            )
        attrs["date_from"], attrs["date_to"] = date_from, date_to
        return attrs


def _figure(fig: selectors.Figure) -> dict[str, Any]:
    return {"count": fig.count, "amount": str(fig.amount.quantize(_CENT))}


class RevenueView(APIView):
    permission_classes = [IsAuthenticated]
    renderer_classes = [renderers.JSONRenderer, renderers.BrowsableAPIRenderer, CSVRenderer]

    @extend_schema(
        parameters=[
            OpenApiParameter("date_from", str, description="YYYY-MM-DD, default: 29 days before date_to"),
            OpenApiParameter("date_to", str, description="YYYY-MM-DD, default: today (project TIME_ZONE)"),
            OpenApiParameter("merchant", int, description="one of your merchants; default: all of them"),
            OpenApiParameter("channel", str, enum=list(Channel.values)),
            OpenApiParameter("format", str, enum=["json", "csv"]),
        ],
        responses={200: dict},
    )
    def get(self, request: Request) -> Response | HttpResponse:
        params = RevenueInput(data=request.query_params)
        params.is_valid(raise_exception=True)
        data = params.validated_data
        merchant_id = data.get("merchant")
        if merchant_id is not None and not merchants_for_user(user=request.user).filter(pk=merchant_id).exists():
            raise NotFound(gettext("No such merchant."))
        lines, totals = selectors.revenue_for_user(
            user=request.user,
            date_from=data["date_from"],
            date_to=data["date_to"],
            merchant_id=merchant_id,
            channel=data.get("channel"),
        )
        if getattr(request.accepted_renderer, "format", "") == "csv":
            return _csv(lines, data)
        return Response(
            {
                "date_from": data["date_from"],
                "date_to": data["date_to"],
                "merchant": merchant_id,
                "channel": data.get("channel"),
                "days": [
                    {
                        "day": line.day,
                        "channel": line.channel,
                        "currency": line.currency,
                        **{kind: _figure(fig) for kind, fig in line.kinds.items()},
                        "net": str(line.net.quantize(_CENT)),
                    }
                    for line in lines
                ],
                # Per currency: never added across currencies, never converted.
                "totals": {
                    currency: {
                        **{kind: _figure(fig) for kind, fig in kinds.items()},
                        "net": str((kinds[Kind.SALE].amount - kinds[Kind.RETURN].amount).quantize(_CENT)),
                    }
                    for currency, kinds in sorted(totals.items())
                },
            }
        )


def _csv(lines: list[selectors.RevenueLine], data: dict[str, Any]) -> HttpResponse:
    buf = io.StringIO()
    writer = csv.writer(buf)
    header = ["day", "channel", "currency"]
    for kind in Kind:
        header += [f"{kind.value}_count", f"{kind.value}_amount"]
    writer.writerow([*header, "net"])
    for line in lines:
        row: list[Any] = [line.day.isoformat(), line.channel, line.currency]
        for kind in Kind:
            fig = line.kinds[kind.value]
            row += [fig.count, fig.amount.quantize(_CENT)]
        writer.writerow([*row, line.net.quantize(_CENT)])
    response = HttpResponse(buf.getvalue(), content_type="text/csv; charset=utf-8")
    name = f"revenue_{data['date_from']:%Y%m%d}_{data['date_to']:%Y%m%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response
