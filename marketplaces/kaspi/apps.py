from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class KaspiConfig(AppConfig):
    """Kaspi.kz (SPEC MKT-1, MKT-7): its own app inside the marketplaces package, like eMAG.

    Its tables keep the names they had when Kaspi was the ``marketplaces`` app (each model's
    ``db_table``): raw SQL in overview's revenue triggers and in the alert checks names them, and
    the migration that moved the models here changed no table (``migrations/0001_initial.py``).
    """

    name = "marketplaces.kaspi"
    label = "kaspi"
    verbose_name = _("Kaspi")
