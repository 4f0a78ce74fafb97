from __future__ import annotations

from django.apps import AppConfig


class RepricerConfig(AppConfig):
    name = "repricer"
