"""Owner API of the vending app, exactly the paths and fields of SPEC VEN-5.

GET  /api/v1/vending/sync/health   → {"ok", "status", "status_code"}
POST /api/v1/vending/sync          → {"ok", "run_id", "transactions_synced", "duration_seconds", "message"}
GET  /api/v1/vending/sync/runs     → the account's runs, newest first (paginated)
GET  /api/v1/vending/reports/daily → per day and per terminal (date_from, date_to, terminal)
GET  /api/v1/vending/reports/daily.csv → the same as CSV
"""

from __future__ import annotations

import csv
import io
import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.http import HttpResponse
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.api.tenancy import account_pick
from core.api.views import SyncRunOutput
from core.models import SyncRun

from . import selectors, services
from .models import SyncMode, VendistaAccount

DATE_ERROR = "Enter a date as YYYY-MM-DD, e.g. 2026-01-31."
BIGINT_MAX = 2**63 - 1  # larger ids would reach the database as an out-of-range 500


def _date_field(**kwargs: Any) -> serializers.DateField:
    return serializers.DateField(
        required=False,
        input_formats=["%Y-%m-%d"],
        error_messages={"invalid": DATE_ERROR, "datetime": DATE_ERROR},
        **kwargs,
    )


def _validated(serializer: serializers.Serializer) -> dict[str, Any]:
    if not serializer.is_valid():
        errors = {k: [str(m) for m in v] if isinstance(v, list) else v for k, v in serializer.errors.items()}
        summary = "; ".join(
            f"{field}: {' '.join(map(str, msgs))}" for field, msgs in errors.items() if field != "non_field_errors"
        )
        nonfield = errors.pop("non_field_errors", [])
        raise ValidationError({"non_field_errors": [*nonfield, *([summary] if summary else [])], **errors})
    return dict(serializer.validated_data)


class RangeInput(serializers.Serializer):
    date_from = _date_field()
    date_to = _date_field()
    account = serializers.IntegerField(required=False, min_value=1, max_value=BIGINT_MAX)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if attrs.get("date_from") and attrs.get("date_to") and attrs["date_from"] > attrs["date_to"]:
            raise serializers.ValidationError(gettext("date_from must not be after date_to."))
        return attrs


class ReportInput(RangeInput):
    terminal = serializers.IntegerField(required=False, min_value=0, max_value=BIGINT_MAX)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        today = timezone.localdate()
        date_to = attrs.get("date_to") or (attrs["date_from"] + timedelta(days=30) if attrs.get("date_from") else today)
        date_from = attrs.get("date_from") or date_to - timedelta(days=30)
        if (date_to - date_from).days + 1 > settings.VENDISTA_REPORT_MAX_DAYS:
            raise serializers.ValidationError(
                gettext("The range is longer than %(days)s days; ask for a shorter one.")
                % {"days": settings.VENDISTA_REPORT_MAX_DAYS}
            )
        attrs["date_from"], attrs["date_to"] = date_from, date_to
        return attrs


def _pick_account(request: Request, account_id: int | None, *, write: bool) -> VendistaAccount | None:
    readable = selectors.accounts_for_user(user=request.user).select_related("merchant")
    writable = selectors.accounts_for_user(user=request.user, write=True).select_related("merchant")
    return account_pick(readable=readable, writable=writable, pk=account_id, write=write)


class SyncHealthView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=[OpenApiParameter("account", int, required=False)],
        responses=inline_serializer(
            "VendingSyncHealth",
            {
                "ok": serializers.BooleanField(),
                "status": serializers.CharField(),
                "status_code": serializers.IntegerField(),
                "message": serializers.CharField(),
            },
        ),
    )
    def get(self, request: Request) -> Response:
        data = _validated(RangeInput(data=request.query_params))
        account = _pick_account(request, data.get("account"), write=False)
        if account is None:
            return Response(
                {
                    "ok": False,
                    "status": "no_account",
                    "status_code": 0,
                    "message": "No Vendista account is configured for your merchant.",
                }
            )
        result = services.account_test_connection(account=account)
        return Response(
            {"ok": result.ok, "status": result.status, "status_code": result.status_code, "message": result.message}
        )


class SyncView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(
        request=RangeInput,
        responses=inline_serializer(
            "VendingSyncResult",
            {
                "ok": serializers.BooleanField(),
                "run_id": serializers.IntegerField(allow_null=True),
                "transactions_synced": serializers.IntegerField(),
                "duration_seconds": serializers.FloatField(),
                "message": serializers.CharField(),
            },
        ),
    )
    def post(self, request: Request) -> Response:
        data = _validated(RangeInput(data=request.data))
        account = _pick_account(request, data.get("account"), write=True)
        if account is None:
            if not selectors.accounts_for_user(user=request.user).exists():
                return Response(
                    {
                        "ok": False,
                        "run_id": None,
                        "transactions_synced": 0,
                        "duration_seconds": 0.0,
                        "message": "No Vendista account is configured for your merchant.",
                    },
                    status=status.HTTP_404_NOT_FOUND,
                )
            raise PermissionDenied(gettext("Your role in this merchant allows reading only."))
        if data.get("date_from") or data.get("date_to"):
            run = services.sync_request(
                account=account, mode=SyncMode.RANGE, date_from=data.get("date_from"), date_to=data.get("date_to")
            )
        else:
            run = services.sync_request(account=account, mode=SyncMode.INCREMENTAL)
        deadline = time.monotonic() + settings.VENDISTA_API_SYNC_WAIT_SECONDS
        while time.monotonic() < deadline and run.status in (SyncRun.Status.QUEUED, SyncRun.Status.RUNNING):
            time.sleep(0.2)
            run.refresh_from_db()
        finished = run.status in (SyncRun.Status.SUCCEEDED, SyncRun.Status.FAILED)
        synced = int(run.counters.get("received", run.items_done)) if finished else run.items_done
        if run.status == SyncRun.Status.FAILED:
            message = gettext("Sync failed: %(error)s") % {"error": run.error}
        elif finished:
            message = gettext("Synced %(count)s transactions.") % {"count": synced}
        else:
            message = gettext("Sync queued (run %(id)s); follow it at /api/v1/vending/sync/runs.") % {"id": run.pk}
        return Response(
            {
                "ok": run.status != SyncRun.Status.FAILED,
                "run_id": run.pk,
                "transactions_synced": synced,
                "duration_seconds": round(run.duration_seconds or 0.0, 3),
                "message": message,
            },
            status=status.HTTP_200_OK if finished else status.HTTP_202_ACCEPTED,
        )


class SyncRunsView(generics.ListAPIView):
    serializer_class = SyncRunOutput
    permission_classes = [IsAuthenticated]
    filter_backends: list[Any] = []

    def get_queryset(self) -> Any:
        return selectors.sync_runs_for_user(user=self.request.user)


def _report_filter(request: Request) -> selectors.ReportFilter:
    data = _validated(ReportInput(data=request.query_params))
    return selectors.ReportFilter(
        date_from=data["date_from"], date_to=data["date_to"], terminal=data.get("terminal"), account=data.get("account")
    )


REPORT_PARAMS = [
    OpenApiParameter("date_from", str, required=False, description="YYYY-MM-DD"),
    OpenApiParameter("date_to", str, required=False, description="YYYY-MM-DD"),
    OpenApiParameter("terminal", int, required=False),
    OpenApiParameter("account", int, required=False),
]


class ReportDailyView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=REPORT_PARAMS, responses={200: dict})
    def get(self, request: Request) -> Response:
        flt = _report_filter(request)
        return Response(selectors.report_daily(accounts=selectors.accounts_for_user(user=request.user), flt=flt))


CSV_COLUMNS = [
    "date",
    "account",
    "terminal",
    "revenue_gross",
    "transactions_count",
    "average_check",
    "refunds_count",
    "refunds_sum",
    "revenue_net",
]


class ReportDailyCsvView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(parameters=REPORT_PARAMS, responses={(200, "text/csv"): str})
    def get(self, request: Request) -> HttpResponse:
        flt = _report_filter(request)
        rows = selectors.report_daily_rows(accounts=selectors.accounts_for_user(user=request.user), flt=flt)
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=CSV_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
        response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = (
            f'attachment; filename="vending-daily-{flt.date_from.isoformat()}-{flt.date_to.isoformat()}.csv"'
        )
        return response
