from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from core.demo import demo_setup


class Command(BaseCommand):
    help = "Create the demo merchant, an admin (password printed once) and each app's demo data."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="admin")

    @transaction.atomic
    def handle(self, *args: Any, **options: Any) -> None:
        password = secrets.token_urlsafe(12)
        result = demo_setup(admin_username=options["username"], admin_password=password)
        self.stdout.write(self.style.SUCCESS("Demo data ready (sandbox: no real money, no real marketplace)."))
        self.stdout.write(f"  Admin:    http://127.0.0.1:8000/admin/   user: {options['username']}")
        self.stdout.write(f"            password: {password}   (new on every run)")
        self.stdout.write("  API docs: http://127.0.0.1:8000/api/docs/")
        self.stdout.write(f"  API token: {result.token_hint}")
        for line in result.links:
            self.stdout.write(f"  {line}")
