from __future__ import annotations

import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun, worker_process_init, worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("merchant_ops")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def _database_connections_as_in_requests(task: Any = None, **kwargs: Any) -> None:
    """A task's database connection lives like a web request's: kept for CONN_MAX_AGE, dropped when
    unusable (CONN_HEALTH_CHECKS, an error). Celery's own Django fixup would close it around every
    task (CELERY_DB_REUSE_MAX unset), so each brew task paid a new PostgreSQL connection — a TCP
    handshake, authentication and a backend process — on the webhook → brew path (PERF-4)."""
    if task is not None and getattr(task.request, "is_eager", False):
        return  # run inline by the caller: its connection and transaction are the caller's
    from django.db import close_old_connections

    close_old_connections()


@worker_process_init.connect
@worker_ready.connect
def _freeze_startup_heap(**kwargs: Any) -> None:
    """A prefork pool process (worker_process_init) or a solo/threads worker (worker_ready) keeps
    what start-up loaded out of the GC's full walks (core/runtime.py): no 80–350 ms stall in a task."""
    from core.runtime import freeze_startup_heap

    freeze_startup_heap()
