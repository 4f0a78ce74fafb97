from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = _("Platform")

    def ready(self) -> None:
        from celery.signals import task_postrun, task_prerun
        from django.utils.module_loading import autodiscover_modules

        from .http import task_finished, task_started

        # One retry layer: inside a task with autoretry_for, HTTP calls are single attempts (core.http).
        task_prerun.connect(task_started, weak=False, dispatch_uid="core.http.task_started")
        task_postrun.connect(task_finished, weak=False, dispatch_uid="core.http.task_finished")

        # Each app declares its periodic jobs in <app>/periodic.py (installed by a command).
        autodiscover_modules("periodic")

        from . import tokens

        tokens.connect_signals()
