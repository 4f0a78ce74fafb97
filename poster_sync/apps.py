from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PosterSyncConfig(AppConfig):
    name = "poster_sync"
    verbose_name = _("Poster")
