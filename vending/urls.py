from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api, api_accounts

router = DefaultRouter()
router.register("accounts", api_accounts.VendistaAccountViewSet, basename="vendista-account")

urlpatterns = [
    path("api/v1/vending/sync/health", api.SyncHealthView.as_view(), name="vending-sync-health"),
    path("api/v1/vending/sync", api.SyncView.as_view(), name="vending-sync"),
    path("api/v1/vending/sync/runs", api.SyncRunsView.as_view(), name="vending-sync-runs"),
    path("api/v1/vending/reports/daily", api.ReportDailyView.as_view(), name="vending-report-daily"),
    path("api/v1/vending/reports/daily.csv", api.ReportDailyCsvView.as_view(), name="vending-report-daily-csv"),
    path("api/v1/vending/", include(router.urls)),
]
