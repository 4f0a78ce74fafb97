from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RepricerConfig(AppConfig):
    name = "repricer"
    verbose_name = _("Repricer")
