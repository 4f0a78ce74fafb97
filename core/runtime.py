"""Process start-up for long-lived servers: gunicorn workers (config.wsgi), Celery workers (config.celery).

Once Django, the apps and their libraries are loaded, a process holds ~150,000 objects that live as
long as it does. CPython's cyclic garbage collector walks all of them on every full (oldest
generation) collection: 78 ms on this project's heap on an idle 2-core machine, 210–360 ms beside a
busy suite, paid by whichever request or task allocated the object that tipped it. Full collections
are rare (the threshold grows with the heap), so a 1,000-webhook PERF-4 run shows no difference in its
p99 — it is the rarer, longer stall this removes. ``gc.freeze()`` moves everything alive at start-up
to a permanent generation the collector no longer walks (a full collection then walks only what was
allocated since); what a request or task allocates is still collected as before. Frozen objects are never
freed by the cycle collector: only start-up state is frozen, which lives as long as the process.
"""

from __future__ import annotations

import gc


def freeze_startup_heap() -> int:
    """Collect what start-up left as garbage, then exempt the survivors from later full collections.
    Returns how many objects were frozen. Call once the process has loaded its application."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
