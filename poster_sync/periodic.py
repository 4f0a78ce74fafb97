"""poster_sync's periodic jobs (installed into django-celery-beat by `manage.py install_periodic_tasks`)."""

from __future__ import annotations

from django.conf import settings

from core.scheduling import PeriodicJob, register

# Daily at 03:00 (TIME_ZONE): every entity of every active account, the safety net for missed
# webhooks and for suppliers, which Poster sends no webhook for (POS-3).
register(
    PeriodicJob(
        name="poster_sync.sync_daily",
        task="poster_sync.tasks.sync_daily",
        crontab={"minute": "0", "hour": "3"},
        timezone=settings.TIME_ZONE,
        queue="sync",
        expires_seconds=6 * 3600,
        description="Daily Poster sync of every entity of every active account.",
    )
)

# Every minute: webhook deliveries and sync runs a lost message or a dead worker left behind run again.
register(
    PeriodicJob(
        name="poster_sync.webhooks_sweep",
        task="poster_sync.tasks.webhooks_sweep",
        every_seconds=60,
        expires_seconds=55,
        queue="sync",
        description="Re-enqueue Poster webhook deliveries and sync runs left unfinished.",
    )
)
