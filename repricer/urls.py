from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api, views

router = DefaultRouter()
router.register("rules", api.RuleViewSet, basename="repricer-rule")
router.register("price-changes", api.PriceChangeViewSet, basename="repricer-price-change")
router.register("stores", api.StoreRepricingViewSet, basename="repricer-store")

urlpatterns = [
    path("api/v1/repricer/", include(router.urls)),
    # Polled by Kaspi; the token in the path is the only credential (rotatable per store).
    path("kaspi/price-list/<str:token>.xml", views.kaspi_price_list, name="repricer-price-list"),
]
