"""Celery finds the app's tasks here; each platform keeps its own in its module."""

from __future__ import annotations

from .kaspi.tasks import orders_sync_execute, products_sync_execute, session_login_execute, sync_scheduled

__all__ = ["orders_sync_execute", "products_sync_execute", "session_login_execute", "sync_scheduled"]
