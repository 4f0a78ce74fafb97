from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api, views, webhooks

router = DefaultRouter()
router.register("accounts", api.AccountViewSet, basename="poster-account")
router.register("suppliers", api.SupplierViewSet, basename="poster-supplier")
router.register("ingredients", api.IngredientViewSet, basename="poster-ingredient")
router.register("storages", api.StorageViewSet, basename="poster-storage")
router.register("categories", api.CategoryViewSet, basename="poster-category")
router.register("ingredient-categories", api.IngredientCategoryViewSet, basename="poster-ingredient-category")
router.register("webhook-logs", api.WebhookLogViewSet, basename="poster-webhook-log")

urlpatterns = [
    path("webhooks/poster/", webhooks.poster, name="webhook-poster"),
    path("poster/oauth/authorize/", views.authorize, name="poster-oauth-authorize"),
    path("poster/oauth/callback/", views.callback, name="poster-oauth-callback"),
    path("api/v1/poster/sync", api.SyncView.as_view(), name="poster-sync"),
    path("api/v1/poster/", include(router.urls)),
]
