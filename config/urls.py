from __future__ import annotations

from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from core import health
from core.api import views as core_api

router = DefaultRouter()
router.register("sync-runs", core_api.SyncRunViewSet, basename="sync-run")
router.register("auth/tokens", core_api.TokenViewSet, basename="api-token-list")

api_v1: list[URLPattern | URLResolver] = [
    path("auth/token/", core_api.TokenView.as_view(), name="api-token"),
    path("me/", core_api.me, name="api-me"),
    path("", include(router.urls)),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    # The admin's language switch posts here (Django's set_language: a cookie, then back to the page).
    path("i18n/", include("django.conf.urls.i18n")),
    path("health/", health.live, name="health-live"),
    path("health/ready/", health.ready, name="health-ready"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include((api_v1, "api"), namespace="v1")),
]

# Each domain app mounts its own URLs (buyer pages, webhooks, API) from <app>/urls.py.
for _app in (
    "payments",
    "vending",
    "marketplaces.kaspi",
    "marketplaces.emag",
    "repricer",
    "poster_sync",
    "overview",
    "alerts",
):
    try:
        urlpatterns.append(path("", include(f"{_app}.urls")))
    except ModuleNotFoundError as exc:
        if exc.name != f"{_app}.urls":
            raise

handler400 = "core.api.errors.handler400"
handler404 = "core.api.errors.handler404"
handler500 = "core.api.errors.handler500"
