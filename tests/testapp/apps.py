from __future__ import annotations

from django.apps import AppConfig


class TestAppConfig(AppConfig):
    """Models that exist only to test the platform's shared pieces (installed by test settings)."""

    name = "tests.testapp"
    label = "testapp"
