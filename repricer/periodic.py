"""The repricer's periodic jobs (installed into django-celery-beat by `manage.py install_periodic_tasks`)."""

from __future__ import annotations

from django.conf import settings

from core.scheduling import PeriodicJob, register

# Every few seconds (REPRICER_SCHEDULE_SECONDS): claim the products that are due and fan them out to
# the repricer queue. Expires before the next wake-up, so a lagging worker never piles them up.
register(
    PeriodicJob(
        name="repricer.schedule",
        task="repricer.tasks.reprice_schedule",
        every_seconds=settings.REPRICER_SCHEDULE_SECONDS,
        expires_seconds=settings.REPRICER_SCHEDULE_SECONDS,
        queue="repricer",
        description="Kaspi repricer: claim due products, send them to the repricer queue in batches.",
    )
)

# Daily at 00:05: proxies' usage and failure counters start again.
register(
    PeriodicJob(
        name="repricer.proxies_reset_counters",
        task="repricer.tasks.proxies_reset_counters",
        crontab={"minute": "5", "hour": "0"},
        expires_seconds=3600,
        queue="repricer",
        description="Reset the proxy pool's usage and failure counters.",
    )
)
