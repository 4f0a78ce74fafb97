from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from core.services import encrypted_values_rotate


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the first key of FIELD_ENCRYPTION_KEYS."

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(f"re-encrypted {encrypted_values_rotate()} values")
