from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api, webhooks

router = DefaultRouter()
router.register("accounts", api.AccountViewSet, basename="emag-account")
router.register("orders", api.OrderViewSet, basename="emag-order")
router.register("offers", api.OfferViewSet, basename="emag-offer")

management = [
    path("health", api.HealthView.as_view(), name="emag-health"),
    path("monitoring/metrics", api.MetricsView.as_view(), name="emag-metrics"),
    path("monitoring/sync-stats", api.SyncStatsView.as_view(), name="emag-sync-stats"),
    path("monitoring/product-stats", api.ProductStatsView.as_view(), name="emag-product-stats"),
    path("rate-limiter/stats", api.RateLimiterStatsView.as_view(), name="emag-rate-limiter-stats"),
    path("rate-limiter/reset", api.RateLimiterResetView.as_view(), name="emag-rate-limiter-reset"),
    path("backup/create", api.BackupCreateView.as_view(), name="emag-backup-create"),
    path("backup/list", api.BackupListView.as_view(), name="emag-backup-list"),
    path("backup/cleanup", api.BackupCleanupView.as_view(), name="emag-backup-cleanup"),
    path("backup/restore", api.BackupRestoreView.as_view(), name="emag-backup-restore"),
    path("backup/schedule", api.BackupScheduleView.as_view(), name="emag-backup-schedule"),
]

urlpatterns = [
    path("webhooks/emag/<str:token>/", webhooks.new_order_callback, name="emag-callback"),
    path("api/v1/marketplaces/emag/management/", include(management)),
    path("api/v1/marketplaces/emag/", include(router.urls)),
]
