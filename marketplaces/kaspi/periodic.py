"""Kaspi's periodic jobs (installed into django-celery-beat by `manage.py install_periodic_tasks`)."""

from __future__ import annotations

from core.scheduling import PeriodicJob, register

# Every 30 minutes: each active store's orders (Shop API) and offers (cabinet; stores parked in
# needs_relogin are skipped until a person logs in). A failed run is simply resumed by the next one.
register(
    PeriodicJob(
        name="marketplaces.kaspi.sync",
        task="marketplaces.kaspi.sync_scheduled",
        every_seconds=30 * 60,
        expires_seconds=25 * 60,
        queue="sync",
        description="Kaspi orders and offers of every active store.",
    )
)
