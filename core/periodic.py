"""core's periodic jobs (discovered at start-up; installed by `manage.py install_periodic_tasks`)."""

from __future__ import annotations

from core.scheduling import PeriodicJob, register

# Every 30 s: beat → broker → worker heartbeat, shown by /health/ready/.
register(
    PeriodicJob(
        name="core.heartbeat",
        task="core.tasks.heartbeat",
        queue="default",
        every_seconds=30,
        expires_seconds=25,
        description="Proves the scheduler and a worker are running.",
    )
)
