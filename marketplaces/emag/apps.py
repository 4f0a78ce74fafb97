from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EmagConfig(AppConfig):
    """eMAG Marketplace (SPEC MKT-2 … MKT-7): its own app inside the marketplaces package."""

    name = "marketplaces.emag"
    label = "marketplaces_emag"
    verbose_name = _("eMAG")
