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
    every_seconds: float | None = None
    crontab: dict[str, str] | None = None  # minute, hour, day_of_week, day_of_month, month_of_year
    timezone: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)
    queue: str | None = None
    # Jobs that run every few seconds or minutes expire, so a lagging worker does not pile them up.
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
