from __future__ import annotations

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "Core: tenancy and integrations"

    def ready(self) -> None:
        from django.utils.module_loading import autodiscover_modules

        # Each app declares its periodic jobs in <app>/periodic.py (installed by a command).
        autodiscover_modules("periodic")
