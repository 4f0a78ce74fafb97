from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.scheduling_install import periodic_tasks_install


class Command(BaseCommand):
    help = "Install the periodic jobs declared in code into django-celery-beat (idempotent)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--reset", action="store_true", help="Also restore schedules and re-enable jobs staff changed in the admin."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        report = periodic_tasks_install(reset=options["reset"])
        self.stdout.write(
            f"periodic tasks: {len(report.created)} created, {len(report.updated)} updated, "
            f"{len(report.unchanged)} unchanged"
        )
