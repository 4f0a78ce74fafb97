from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api

router = DefaultRouter()
router.register("stores", api.StoreViewSet, basename="kaspi-store")
router.register("products", api.ProductViewSet, basename="kaspi-product")
router.register("orders", api.OrderViewSet, basename="kaspi-order")
router.register("preorders", api.PreorderViewSet, basename="kaspi-preorder")

urlpatterns = [path("api/v1/marketplaces/kaspi/", include(router.urls))]
