"""Celery: five queues named by each task, JSON only, late acks (SPEC PLAT-6)."""

from __future__ import annotations

from kombu import Queue

from .env import env

_redis_url = env("REDIS_URL", default=f"redis://127.0.0.1:{env.int('LOCAL_REDIS_PORT', default=6390)}/0")
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=_redis_url)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=_redis_url)
CELERY_RESULT_EXPIRES = 3600
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_TIMEZONE = env("TIME_ZONE", default="Europe/Moscow")
CELERY_ENABLE_UTC = True

# Queues by service level, each with its own worker (Procfile, bin/start, docker-compose.yml), so no
# class of work waits behind another: a multi-hour sync never holds up a capture or a brew.
CELERY_TASK_QUEUES = (
    Queue("brew"),  # latency-critical: paid webhook -> device command
    Queue("payments"),  # money (capture, cancel, refund) and its sweeps
    Queue("sync"),  # Vendista, eMAG, Kaspi, Poster
    Queue("repricer"),
    Queue("default"),  # heartbeat, test pings, demo set-up
)
# Every task names its queue (``@shared_task(queue=...)``) and every periodic job carries it
# (core.scheduling.PeriodicJob); there is no routing by task name (tests/core/test_celery.py).
CELERY_TASK_DEFAULT_QUEUE = "default"

# Tasks are written to be safe to run twice, so a message is acknowledged only after the task
# finished. Delivery is at least once *while the message lives*: a dead pool process's task is
# requeued at once (reject_on_worker_lost); when the whole worker is killed, Redis hands its
# unacknowledged (and countdown-waiting) messages out again only after the visibility timeout; a
# message published after a commit is lost if the publishing process dies in between. So every state
# a task moves is also re-driven from the database by a periodic sweep (payments/periodic.py, REL-1).
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Database connections are kept between tasks as between requests (CONN_MAX_AGE; config/celery.py
# closes the unusable or too old ones around each task): Celery's fixup recycles them only this rarely.
CELERY_DB_REUSE_MAX = 10_000
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=300)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=360)
# Redis hands an unacknowledged (or countdown-waiting) message out again after the visibility timeout,
# even while the first worker is still on it. No task message lives that long (SPEC PLAT-14): a task
# is killed at CELERY_TASK_TIME_LIMIT (360 s); a sync run is a chain of short step messages under the
# run's lease (core/steps.py), each running steps for SYNC_STEP_SECONDS (60 s), stopped softly at half
# the timeout and killed at three quarters; a repricer batch starts no product after SYNC_STEP_SECONDS
# and hands the rest back (repricer/services/loop.py); every retry countdown stays below it (a sync
# run's: 0.4 of it; other tasks back off 300 s at most). Should a sync message come back anyway, the
# run's lease decides: held by a live execution, the message leaves; expired, it resumes the run from
# the last checkpoint. Kept short so a killed worker's messages come back soon.
CELERY_VISIBILITY_TIMEOUT = env.int("CELERY_VISIBILITY_TIMEOUT", default=600)
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_VISIBILITY_TIMEOUT,
    # A worker looks for messages past the visibility timeout every interval × throttle seconds
    # (kombu's defaults: 10 × 10); tests with a timeout of a few seconds look every second.
    "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
    "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
}
# One sync step message runs steps (a page, a window, a batch) for this long, then chains the next.
SYNC_STEP_SECONDS = env.float("SYNC_STEP_SECONDS", default=min(60.0, CELERY_VISIBILITY_TIMEOUT / 10))
# A run's lease: renewed every third of it by the executing worker; a dead worker's expires after it.
SYNC_LEASE_SECONDS = env.float("SYNC_LEASE_SECONDS", default=min(90.0, CELERY_VISIBILITY_TIMEOUT / 6))
SYNC_STEP_SOFT_TIME_LIMIT = CELERY_VISIBILITY_TIMEOUT * 0.5
SYNC_STEP_TIME_LIMIT = CELERY_VISIBILITY_TIMEOUT * 0.75
SYNC_RETRY_COUNTDOWN_MAX = CELERY_VISIBILITY_TIMEOUT * 0.4
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A worker whose Redis is down (or not up yet) keeps retrying with backoff and logs it; it never exits.
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_WORKER_SEND_TASK_EVENTS = False
CELERY_TASK_SEND_SENT_EVENT = False
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
