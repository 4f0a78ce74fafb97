from __future__ import annotations

import pytest
from django.core.management import call_command
from django_celery_beat.models import PeriodicTask

from core.scheduling import PeriodicJob, registered_jobs
from core.scheduling_install import periodic_tasks_install

pytestmark = pytest.mark.django_db


def test_code_declares_the_heartbeat_job() -> None:
    assert "core.heartbeat" in {job.name for job in registered_jobs()}


def test_install_is_idempotent() -> None:
    call_command("install_periodic_tasks")
    first = {t.name: (t.task, t.interval_id, t.crontab_id) for t in PeriodicTask.objects.all()}
    assert len(first) == len(registered_jobs())
    report = periodic_tasks_install()
    assert report.created == [] and report.updated == []
    assert {t.name: (t.task, t.interval_id, t.crontab_id) for t in PeriodicTask.objects.all()} == first


def test_staff_pause_and_retiming_survive_reinstall_until_reset() -> None:
    periodic_tasks_install()
    task = PeriodicTask.objects.get(name="core.heartbeat")
    task.enabled = False
    task.save()
    periodic_tasks_install()
    assert PeriodicTask.objects.get(name="core.heartbeat").enabled is False
    periodic_tasks_install(reset=True)
    assert PeriodicTask.objects.get(name="core.heartbeat").enabled is True


def test_code_changes_to_task_options_are_applied() -> None:
    job = PeriodicJob(name="test.job", task="core.tasks.ping", queue="default", every_seconds=60, kwargs={"value": 1})
    periodic_tasks_install(jobs=[job])
    changed = PeriodicJob(
        name="test.job",
        task="core.tasks.ping",
        queue="default",
        every_seconds=60,
        kwargs={"value": 2},
        expires_seconds=50,
    )
    report = periodic_tasks_install(jobs=[changed])
    assert report.updated == ["test.job"]
    stored = PeriodicTask.objects.get(name="test.job")
    assert stored.kwargs == '{"value": 2}' and stored.expire_seconds == 50


def test_crontab_job_keeps_its_time_zone() -> None:
    job = PeriodicJob(
        name="test.nightly",
        task="core.tasks.ping",
        queue="default",
        crontab={"minute": "0", "hour": "0"},
        timezone="Asia/Almaty",
    )
    periodic_tasks_install(jobs=[job])
    stored = PeriodicTask.objects.get(name="test.nightly")
    assert (stored.crontab.minute, stored.crontab.hour, str(stored.crontab.timezone)) == ("0", "0", "Asia/Almaty")


def test_a_job_needs_exactly_one_schedule() -> None:
    with pytest.raises(ValueError):
        PeriodicJob(name="bad", task="x", queue="default")
