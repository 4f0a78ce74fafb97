"""URLs of the marketplaces app, per platform module."""

from __future__ import annotations

from .kaspi.urls import urlpatterns as kaspi_urlpatterns

urlpatterns = [*kaspi_urlpatterns]
