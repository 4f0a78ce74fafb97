"""A pacer's grants taken by several OS processes at once: does the declared pace hold across them?

Each process (``multiprocessing`` with spawn: a fresh interpreter, as a Celery worker is) sets Django
up, builds the pacer with the function a provider declares (``"module:function"`` and plain keyword
arguments, so no database is needed), waits for the others at a barrier and takes ``grants`` slots.
It reports the slots Redis granted (``Pacer.last_grant``, on Redis's clock): a stall of a process
after its grant cannot move them, as it would move a time the process took itself.
"""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
from importlib import import_module
from typing import Any

from django.conf import settings


def _take(factory: str, kwargs: dict[str, Any], grants: int, redis_url: str, barrier: Any, out: Any) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.test")
    import django

    django.setup()
    from django.conf import settings as child_settings

    child_settings.REDIS_URL = redis_url  # the parent's database, whatever the child's settings computed
    module, _, name = factory.partition(":")
    pacer = getattr(import_module(module), name)(**kwargs)
    barrier.wait(timeout=120)
    slots = []
    for _ in range(grants):
        pacer.acquire(timeout=60)
        slots.append(pacer.last_grant()[0])
    out.put((os.getpid(), slots, pacer.rate))


def grants_across_processes(
    factory: str, *, processes: int = 2, grants: int = 3, timeout: float = 180.0, **kwargs: Any
) -> tuple[list[float], float]:
    """The merged, sorted slots every process was granted and the rate the pacer declared there."""
    context = multiprocessing.get_context("spawn")
    barrier = context.Barrier(processes)
    out = context.Queue()
    workers = [
        context.Process(target=_take, args=(factory, kwargs, grants, settings.REDIS_URL, barrier, out), daemon=True)
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    try:
        reports = [out.get(timeout=timeout) for _ in workers]
    except queue.Empty:
        raise AssertionError(f"{factory}: the processes did not report within {timeout:g} s") from None
    finally:
        for worker in workers:
            worker.join(timeout=10)
            if worker.is_alive():
                worker.kill()  # this process's own child, by its PID
    assert len({pid for pid, _, _ in reports}) == processes
    assert all(len(slots) == grants for _, slots, _ in reports)
    rates = {rate for _, _, rate in reports}
    assert len(rates) == 1, rates
    return sorted(itertools.chain.from_iterable(slots for _, slots, _ in reports)), rates.pop()


def assert_paced(slots: list[float], rate: float) -> None:
    """One lane for every process: no two grants closer than the spacing (the slots are Redis's, kept
    to a microsecond)."""
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= 1.0 / rate - 1e-5, (min(gaps), 1.0 / rate)
