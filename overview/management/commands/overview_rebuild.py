"""Recount the revenue rollup from the channel tables (after a TIME_ZONE change, or to check it)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from overview.services import revenue_rebuild


class Command(BaseCommand):
    help = "Recount the owner overview's revenue rollup; with no --merchant, re-reads TIME_ZONE too."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--merchant", type=int, help="only this merchant id")

    def handle(self, *args: Any, merchant: int | None = None, **options: Any) -> None:
        if merchant is None:
            revenue_rebuild(time_zone=settings.TIME_ZONE)
        else:
            revenue_rebuild(merchant_id=merchant)
        self.stdout.write("revenue rollup recounted")
