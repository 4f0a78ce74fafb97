from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("api/v1/vending/sync/health", api.SyncHealthView.as_view(), name="vending-sync-health"),
    path("api/v1/vending/sync", api.SyncView.as_view(), name="vending-sync"),
    path("api/v1/vending/sync/runs", api.SyncRunsView.as_view(), name="vending-sync-runs"),
    path("api/v1/vending/reports/daily", api.ReportDailyView.as_view(), name="vending-report-daily"),
    path("api/v1/vending/reports/daily.csv", api.ReportDailyCsvView.as_view(), name="vending-report-daily-csv"),
]
