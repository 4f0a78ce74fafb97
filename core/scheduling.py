"""Periodic jobs are declared once, in code, and installed into django-celery-beat (SPEC PLAT-6).

Each app lists its jobs in ``<app>/periodic.py`` with ``register(...)``; ``manage.py
install_periodic_tasks`` writes them into the beat tables idempotently. Staff may pause or re-time
a job in the admin: installing again keeps their ``enabled`` flag and schedule unless ``--reset``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

_REGISTRY: dict[str, PeriodicJob] = {}


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    task: str
    # The queue the job's messages go to: the same as its task's ``queue`` (tests/core/test_celery.py).
    queue: str
    every_seconds: float | None = None
    crontab: dict[str, str] | None = None  # minute, hour, day_of_week, day_of_month, month_of_year
    timezone: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    # Jobs that run every few seconds or minutes expire, so a lagging worker does not pile them up.
    # A dropped run is harmless: every job re-reads its work from the database, so the next run
    # covers what the dropped one would have done (tests/payments/test_queues.py).
    expires_seconds: float | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if (self.every_seconds is None) == (self.crontab is None):
            raise ValueError(f"{self.name}: give exactly one of every_seconds or crontab")


def register(job: PeriodicJob) -> PeriodicJob:
    _REGISTRY[job.name] = job
    return job


def registered_jobs() -> list[PeriodicJob]:
    return sorted(_REGISTRY.values(), key=lambda j: j.name)
