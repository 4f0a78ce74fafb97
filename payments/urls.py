from __future__ import annotations

from django.urls import include, path
from rest_framework.routers import DefaultRouter

from . import api, api_accounts, views, webhooks

app_name = "payments"

router = DefaultRouter()
router.register("devices", api.DeviceViewSet, basename="device")
router.register("drinks", api.DrinkViewSet, basename="drink")
router.register("orders", api.OrderViewSet, basename="order")
router.register("accounts", api_accounts.PaymentAccountViewSet, basename="payment-account")
router.register("tmetr-accounts", api_accounts.TmetrAccountViewSet, basename="tmetr-account")

urlpatterns = [
    path("q/<slug:code>/", views.menu, name="menu"),
    path("orders/<uuid:order_id>/", views.order_status, name="order-status"),
    path("orders/<uuid:order_id>/status.json", views.order_status_json, name="order-status-json"),
    path("v1/pay", views.legacy_pay, name="legacy-pay"),
    path("webhooks/yookassa/", webhooks.yookassa, name="webhook-yookassa"),
    path("webhooks/tbank/", webhooks.tbank, name="webhook-tbank"),
    path("api/v1/payments/", include(router.urls)),
]
