"""alerts' periodic job (installed into django-celery-beat by `manage.py install_periodic_tasks`)."""

from __future__ import annotations

from core.scheduling import PeriodicJob, register

# Every 20 seconds: open/close alerts from the domains' state and send due deliveries. A condition
# stored at t is seen by t + 20 s and sent in the same run (Apprise's 4 s + 4 s timeouts per
# message), which bounds "delivered within 60 s" while the default queue is not backlogged.
JOB = register(
    PeriodicJob(
        name="alerts.run",
        task="alerts.tasks.alerts_run",
        every_seconds=20,
        expires_seconds=18,
        queue="default",
        description="Open and close alerts (OWN-3) and send their messages (OWN-4).",
    )
)
