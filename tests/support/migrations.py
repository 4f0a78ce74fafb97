"""Migration tests: move the test database to a state of the migration graph and back.

A test that migrates an app back also unapplies the other apps' migrations that depend on it, so it
restores every app's latest state (``latest_nodes()``), not its own app's alone."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.db.migrations.executor import MigrationExecutor


def migrate_to(targets: list[tuple[str, str | None]]) -> Any:
    """Migrate to ``targets`` (``(app, None)``: before the app's first migration); the historical
    models (``apps``) of that state."""
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    nodes = [(app, name) for app, name in targets if name is not None]
    return executor.loader.project_state(nodes, at_end=True).apps


def latest_nodes() -> list[tuple[str, str]]:
    """The last migration of every app: where a migration test leaves the database."""
    return MigrationExecutor(connection).loader.graph.leaf_nodes()
