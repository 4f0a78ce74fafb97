from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from sandbox.harness import SandboxServer, Simulator
from tests.support.celery_worker import WorkerProcess
from tests.support.network import block_non_loopback
from tests.support.simulators import simulator_env

block_non_loopback()


@pytest.fixture(scope="session", autouse=True)
def _redis_emptied() -> None:
    """This worker's Redis database belongs to the tests (TEST_REDIS_DB_BASE + worker number): it is
    emptied when the worker starts. A new test database hands out the same ids again, so keys an
    earlier run left behind (eMAG metrics per account, pacer slots, pauses) would leak into its tests."""
    from core.redis_client import shared_redis

    shared_redis().flushdb()


@pytest.fixture(autouse=True)
def _buyer_order_limits_reset() -> None:
    """Every test client posts from 127.0.0.1: the buyer-order budget of that address (10 per 10
    minutes, payments.services.buyer_limits) starts afresh for each test, as for a new buyer."""
    from core.redis_client import shared_redis

    client = shared_redis()
    keys = list(client.scan_iter(match="*buyer-orders:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def sandbox() -> Iterator[Callable[[Simulator], SandboxServer]]:
    """Start simulators on ephemeral loopback ports: ``server = sandbox(EchoSimulator())``."""
    servers: list[SandboxServer] = []

    def start(simulator: Simulator) -> SandboxServer:
        server = SandboxServer(simulator).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def start_simulator(sandbox: Callable[[Simulator], SandboxServer], settings: Any) -> Callable[..., SandboxServer]:
    """Start a simulator and point the settings its registry entry names at it, with any other settings
    the test wants: ``start_simulator(EmagSimulator(), EMAG_BACKOFF_BASE_SECONDS=0.01)``. Restored
    after the test; a worker process takes ``simulator_env(sim)`` (tests/support/simulators.py)."""

    def start(simulator: Simulator, **extra: Any) -> SandboxServer:
        server = sandbox(simulator)
        for name, value in {**simulator_env(simulator), **extra}.items():
            setattr(settings, name, value)
        return server

    return start


class _Workers:
    """The Celery workers of this test process. Only one consumes the broker at a time: a test's
    dedicated worker (with its own environment, e.g. simulator URLs) must not share the queues
    with the shared worker, or either could take the other's tasks."""

    def __init__(self) -> None:
        self.shared: WorkerProcess | None = None

    def shared_worker(self) -> WorkerProcess:
        if self.shared is None or self.shared.process is None or self.shared.process.poll() is not None:
            self.shared = WorkerProcess().start()
        return self.shared

    def stop_shared(self) -> None:
        if self.shared is not None:
            self.shared.stop()
            self.shared = None


@pytest.fixture(scope="session")
def _workers() -> Iterator[_Workers]:
    workers = _Workers()
    yield workers
    workers.stop_shared()


_WORKER_FIXTURES = frozenset({"celery_worker", "start_worker"})


def _commits(request: pytest.FixtureRequest) -> bool:
    """The test's writes are committed (so its ``on_commit`` hooks queue real task messages)."""
    names = set(request.fixturenames)
    if names & {"transactional_db", "live_server", "django_db_reset_sequences"}:
        return True
    return any(mark.kwargs.get("transaction") for mark in request.node.iter_markers("django_db"))


@pytest.fixture(autouse=True)
def _no_worker_unless_asked(request: pytest.FixtureRequest, _workers: _Workers) -> None:
    """A test that commits without asking for a worker gets none: the shared worker an earlier test of
    this process started would otherwise take the tasks this test's commits queue and run them beside
    the test's own direct calls — with its own environment (other simulators' URLs). A callback it
    claimed first was then "not due" for the test, and its acknowledgement went to a dead port (seen
    in CI on a busy machine). The next test that asks for the worker starts it again."""
    if _WORKER_FIXTURES.isdisjoint(request.fixturenames) and _commits(request):
        _workers.stop_shared()


@pytest.fixture
def celery_worker(_workers: _Workers, transactional_db: None) -> WorkerProcess:
    """A real worker shared by the tests of this process (started on first use)."""
    return _workers.shared_worker()


@pytest.fixture
def start_worker(_workers: _Workers, transactional_db: None) -> Iterator[Callable[..., WorkerProcess]]:
    """A dedicated worker a test may configure or kill (crash tests); the shared one is stopped first."""
    _workers.stop_shared()
    started: list[WorkerProcess] = []

    def start(**kwargs: object) -> WorkerProcess:
        worker = WorkerProcess(**kwargs).start()  # type: ignore[arg-type]
        started.append(worker)
        return worker

    yield start
    for worker in started:
        worker.stop()


@pytest.fixture
def merchant_factory(db: None) -> Callable[..., object]:
    from tests.factories import MerchantFactory

    return MerchantFactory


@pytest.fixture
def staff_client(client: Any, db: None) -> Any:
    """The test client logged in as a staff superuser (the admin's tests)."""
    from tests.factories import UserFactory

    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client
