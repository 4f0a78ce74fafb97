from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register("alerts", api.AlertViewSet, basename="alert")
router.register("alert-channels", api.AlertChannelViewSet, basename="alert-channel")
router.register("alert-settings", api.AlertSettingsViewSet, basename="alert-settings")

urlpatterns = [path("api/v1/", include(router.urls))]
