from __future__ import annotations

from django.apps import AppConfig


class VendingConfig(AppConfig):
    name = "vending"
