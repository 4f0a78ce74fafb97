from __future__ import annotations

from django.apps import AppConfig


class EmagConfig(AppConfig):
    """eMAG Marketplace (SPEC MKT-2 … MKT-7): its own app inside the marketplaces package."""

    name = "marketplaces.emag"
    label = "marketplaces_emag"
    verbose_name = "eMAG marketplace"
