from __future__ import annotations

import time
import uuid

import pytest
import redis
from django.conf import settings

from config.celery import app
from core.health import HEARTBEAT_KEY
from core.tasks import heartbeat, ping
from tests.support.celery_worker import WorkerProcess


def test_round_trip_through_a_real_worker(celery_worker: WorkerProcess) -> None:
    assert ping.delay(41).get(timeout=20) == 42


def test_heartbeat_task_runs_on_the_worker(celery_worker: WorkerProcess) -> None:
    client = redis.Redis.from_url(settings.REDIS_URL)
    client.delete(HEARTBEAT_KEY)
    heartbeat.apply_async()  # results are ignored for this task: watch its effect instead
    deadline = time.monotonic() + 20
    while client.get(HEARTBEAT_KEY) is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert client.get(HEARTBEAT_KEY) is not None


QUEUES = {"brew", "payments", "sync", "repricer", "default"}


def test_configuration_is_json_only_with_late_acks_and_five_queues() -> None:
    conf = app.conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert {q.name for q in conf.task_queues} == QUEUES
    assert conf.task_time_limit and conf.task_soft_time_limit < conf.task_time_limit
    # No routing by task name: a prefix route silently sends a renamed task to the default queue.
    assert not conf.task_routes


def _project_tasks() -> dict[str, object]:
    app.loader.import_default_modules()  # autodiscovery: every app's tasks module
    return {name: task for name, task in app.tasks.items() if not name.startswith("celery.")}


def test_every_task_names_a_known_queue_and_is_sent_there() -> None:
    tasks = _project_tasks()
    assert len(tasks) > 20, sorted(tasks)  # every app's tasks were discovered
    unnamed = sorted(name for name, task in tasks.items() if getattr(task, "queue", None) not in QUEUES)
    assert not unnamed, f"tasks without an explicit known queue (@shared_task(queue=...)): {unnamed}"
    router = app.amqp.router
    for name, task in tasks.items():
        # What apply_async/delay and beat do: the router with the task's own execution options.
        options = dict(task._get_exec_options())  # type: ignore[attr-defined]
        assert router.route(options, name, task_type=task)["queue"].name == task.queue, name


def test_money_and_brews_have_their_own_queues() -> None:
    tasks = _project_tasks()
    for name in ("brew_process_delivery", "brew_send"):
        assert tasks[f"payments.tasks.{name}"].queue == "brew"  # type: ignore[attr-defined]
    for name in (
        "payment_capture",
        "refund_execute",
        "settlements_sweep",
        "orders_expire",
        "brews_fail_late",
        "deliveries_retry",
        "payments_reconcile",
    ):
        assert tasks[f"payments.tasks.{name}"].queue == "payments", name  # type: ignore[attr-defined]
    assert {t.queue for n, t in tasks.items() if n.startswith(("vending.", "marketplaces.", "poster_sync."))} == {  # type: ignore[attr-defined]
        "sync"
    }


def test_every_periodic_job_carries_its_tasks_queue() -> None:
    from core.scheduling import registered_jobs

    tasks = _project_tasks()
    jobs = registered_jobs()
    assert jobs
    for job in jobs:
        assert job.task in tasks, job.name
        assert job.queue == tasks[job.task].queue, job.name  # type: ignore[attr-defined]


@pytest.mark.django_db(transaction=True)
def test_a_worker_keeps_its_database_connection_between_tasks(start_worker) -> None:
    """PERF-4: tasks reuse the worker's PostgreSQL connection (CONN_MAX_AGE, as web requests do)
    instead of opening a new one around every task, as Celery's Django fixup does by default."""
    from django.db import connection

    from payments.tasks import orders_expire

    name = f"reuse-{uuid.uuid4().hex[:10]}"  # the worker's connections carry it (libpq's PGAPPNAME)
    start_worker(
        queues="payments",
        concurrency=1,
        extra_env={"DJANGO_SETTINGS_MODULE": "config.settings.base", "CONN_MAX_AGE": "60", "PGAPPNAME": name},
    )

    def backends() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pid FROM pg_stat_activity WHERE application_name = %s", [name])
            return [row[0] for row in cursor.fetchall()]

    seen = []
    for _ in range(3):
        assert orders_expire.delay().get(timeout=30) == 0  # a task that queries the database
        seen.append(backends())
    assert seen[0] and len(seen[0]) == 1 and seen == [seen[0]] * 3, seen  # one connection, kept
