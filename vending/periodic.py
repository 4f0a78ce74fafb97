"""vending's periodic jobs (installed into django-celery-beat by `manage.py install_periodic_tasks`)."""

from __future__ import annotations

from core.scheduling import PeriodicJob, register

# Every 15 minutes: an incremental sync of every active account (newest stored time minus the
# overlap window), and a resume of runs whose worker died half-way (VEN-3).
register(
    PeriodicJob(
        name="vending.sync_incremental",
        task="vending.tasks.sync_incremental_all",
        queue="sync",
        every_seconds=15 * 60,
        expires_seconds=14 * 60,
        description="Incremental Vendista sync of every active account; resumes interrupted runs.",
    )
)

# At minute 0 of every hour (UTC): accounts whose own time zone has just reached 00:00 get the
# previous days re-read — "nightly at 00:00 in the merchant's zone" for any zone.
register(
    PeriodicJob(
        name="vending.sync_nightly",
        task="vending.tasks.sync_nightly_due",
        queue="sync",
        crontab={"minute": "0", "hour": "*"},
        timezone="UTC",
        expires_seconds=50 * 60,
        description="Nightly Vendista sync at 00:00 local time of each account.",
    )
)
