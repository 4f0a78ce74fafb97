"""Admin registrations, per platform module."""

from __future__ import annotations

from .kaspi import admin as kaspi_admin  # noqa: F401  (registers the Kaspi models)
