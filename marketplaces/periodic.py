"""Periodic jobs of the marketplaces app, per platform module."""

from __future__ import annotations

from .kaspi import periodic as kaspi_periodic  # noqa: F401  (registers the jobs)
