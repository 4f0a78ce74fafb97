from __future__ import annotations

from django.apps import AppConfig


class PosterSyncConfig(AppConfig):
    name = "poster_sync"
