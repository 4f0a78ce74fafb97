"""Heartbeat files: a long-running process without a port proves it is working by touching a file,
and its container's healthcheck (``manage.py healthcheck <role>``) reads how old the file is.

The file lives in the process's own container (``HEARTBEAT_DIR``, default a folder in the system's
temporary directory), so a healthy sibling can never make a stuck process look alive.
"""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings

# How often a healthy process touches its file, and how old a file may be before it counts as stale.
INTERVAL_SECONDS = 10.0
STALE_AFTER_SECONDS = 45.0


def heartbeat_path(name: str) -> Path:
    return Path(settings.HEARTBEAT_DIR) / f"{name}.alive"


def heartbeat_touch(name: str) -> None:
    path = heartbeat_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


def heartbeat_clear(name: str) -> None:
    heartbeat_path(name).unlink(missing_ok=True)


def heartbeat_age(name: str) -> float | None:
    """Seconds since the last touch, or None when the process never touched it."""
    try:
        return max(0.0, time.time() - heartbeat_path(name).stat().st_mtime)
    except FileNotFoundError:
        return None
