from __future__ import annotations

import time

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


def test_configuration_is_json_only_with_late_acks_and_four_queues() -> None:
    conf = app.conf
    assert conf.accept_content == ["json"] and conf.task_serializer == "json"
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert {q.name for q in conf.task_queues} == {"brew", "sync", "repricer", "default"}
    assert conf.task_time_limit and conf.task_soft_time_limit < conf.task_time_limit
    router = app.amqp.router

    def queue_of(name: str) -> str:
        return router.route({}, name)["queue"].name

    assert queue_of("payments.tasks.brew_send") == "brew"
    assert queue_of("vending.tasks.transactions_sync") == "sync"
    assert queue_of("repricer.tasks.reprice_batch") == "repricer"
    assert queue_of("core.tasks.ping") == "default"
