from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from sandbox.registry import sandbox_environment


class Command(BaseCommand):
    help = "Print NAME=URL for every provider setting the sandbox simulators stand in for (bin/start, SANDBOX=1)."

    def handle(self, *args: Any, **options: Any) -> None:
        for name, value in sandbox_environment(settings.SANDBOX_HOST, settings.SANDBOX_BASE_PORT).items():
            self.stdout.write(f"{name}={value}")
