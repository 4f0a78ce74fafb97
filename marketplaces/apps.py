from __future__ import annotations

from django.apps import AppConfig


class MarketplacesConfig(AppConfig):
    name = "marketplaces"
