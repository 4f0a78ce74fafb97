from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from sandbox.harness import SandboxServer, Simulator
from tests.support.celery_worker import WorkerProcess
from tests.support.network import block_non_loopback

block_non_loopback()


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


@pytest.fixture(scope="session")
def celery_worker_session(django_db_setup: None, django_db_blocker: object) -> Iterator[WorkerProcess]:
    """One real worker for the whole test process; use with ``transactional_db``."""
    with django_db_blocker.unblock():  # type: ignore[attr-defined]
        worker = WorkerProcess().start()
    yield worker
    worker.stop()


@pytest.fixture
def celery_worker(celery_worker_session: WorkerProcess, transactional_db: None) -> WorkerProcess:
    return celery_worker_session


@pytest.fixture
def start_worker(transactional_db: None) -> Iterator[Callable[..., WorkerProcess]]:
    """A dedicated worker a test may kill (crash tests)."""
    workers: list[WorkerProcess] = []

    def start(**kwargs: object) -> WorkerProcess:
        worker = WorkerProcess(**kwargs).start()  # type: ignore[arg-type]
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


@pytest.fixture
def merchant_factory(db: None) -> Callable[..., object]:
    from tests.factories import MerchantFactory

    return MerchantFactory
