"""eMAG's periodic jobs (installed into django-celery-beat by `manage.py install_periodic_tasks`)."""

from __future__ import annotations

from core.scheduling import PeriodicJob, register

# Every 5 minutes (at an odd second offset, eMAG asks clients to avoid round clock times): the sweep
# of new and modified orders of every active account — the safety net of the new-order callback
# (MKT-2b, MKT-7).
register(
    PeriodicJob(
        name="marketplaces.emag.orders_sweep",
        task="marketplaces.emag.tasks.orders_sweep_all",
        every_seconds=5 * 60 + 7,
        expires_seconds=4 * 60,
        queue="sync",
        description="eMAG: sweep new and modified orders of every active account",
    )
)

# Every minute: new-order callbacks whose task message was lost, and failed ones whose retry is due,
# processed by the one inbox sweep (core.inbox).
register(
    PeriodicJob(
        name="marketplaces.emag.callbacks_sweep",
        task="marketplaces.emag.tasks.callbacks_sweep",
        every_seconds=60,
        expires_seconds=55,
        queue="sync",
        description="eMAG: process callbacks left unprocessed or due for a retry",
    )
)

# Every hour at minute 23: offers with competition data (buy-button rank, best price).
register(
    PeriodicJob(
        name="marketplaces.emag.offers_sync",
        task="marketplaces.emag.tasks.offers_sync_all",
        crontab={"minute": "23", "hour": "*"},
        timezone="UTC",
        expires_seconds=50 * 60,
        queue="sync",
        description="eMAG: read offers and their competition data",
    )
)

# Daily at 02:17 UTC: a gzip JSON backup of every account with backups on, then the retention
# clean-up (MKT-6).
register(
    PeriodicJob(
        name="marketplaces.emag.backups_daily",
        task="marketplaces.emag.tasks.backups_daily",
        crontab={"minute": "17", "hour": "2"},
        timezone="UTC",
        expires_seconds=6 * 3600,
        queue="sync",
        description="eMAG: daily backup of every account and retention clean-up",
    )
)
