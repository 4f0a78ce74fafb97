"""Installs the registered periodic jobs into django-celery-beat's tables."""

from __future__ import annotations

import json
from dataclasses import dataclass

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from .scheduling import PeriodicJob, registered_jobs


@dataclass
class InstallReport:
    created: list[str]
    updated: list[str]
    unchanged: list[str]


def _schedule_kwargs(job: PeriodicJob) -> dict[str, object]:
    if job.every_seconds is not None:
        interval, _ = IntervalSchedule.objects.get_or_create(
            every=int(job.every_seconds), period=IntervalSchedule.SECONDS
        )
        return {"interval": interval, "crontab": None}
    cron = {"minute": "*", "hour": "*", "day_of_week": "*", "day_of_month": "*", "month_of_year": "*"}
    cron.update(job.crontab or {})
    crontab, _ = CrontabSchedule.objects.get_or_create(timezone=job.timezone or "UTC", **cron)
    return {"crontab": crontab, "interval": None}


@transaction.atomic
def periodic_tasks_install(*, reset: bool = False, jobs: list[PeriodicJob] | None = None) -> InstallReport:
    report = InstallReport(created=[], updated=[], unchanged=[])
    for job in jobs if jobs is not None else registered_jobs():
        wanted = {
            "task": job.task,
            "kwargs": json.dumps(job.kwargs, sort_keys=True),
            "queue": job.queue,
            "expire_seconds": int(job.expires_seconds) if job.expires_seconds else None,
            "description": job.description,
        }
        existing = PeriodicTask.objects.filter(name=job.name).first()
        if existing is None:
            PeriodicTask.objects.create(name=job.name, enabled=True, **wanted, **_schedule_kwargs(job))
            report.created.append(job.name)
            continue
        changed: dict[str, object] = {k: v for k, v in wanted.items() if getattr(existing, k) != v}
        if reset:
            changed.update(_schedule_kwargs(job))
            changed["enabled"] = True
        if changed:
            for key, value in changed.items():
                setattr(existing, key, value)
            existing.save()
            report.updated.append(job.name)
        else:
            report.unchanged.append(job.name)
    return report
