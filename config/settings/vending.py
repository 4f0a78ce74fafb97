"""Settings of the vending app (read from the environment; names documented in README)."""

from __future__ import annotations

from .env import env  # noqa: F401
