from __future__ import annotations

from django.urls import path

from . import api

urlpatterns = [
    path("api/v1/overview/revenue/", api.RevenueView.as_view(), name="overview-revenue"),
]
