"""The triggers that keep the revenue rollup current, and a first count of existing rows."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import migrations

from overview import revenue_sql


def install(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(revenue_sql.day_function_sql(settings.TIME_ZONE))
        cursor.execute(revenue_sql.triggers_sql())
        for sql, params in revenue_sql.rebuild_sql(merchant_id=None):
            cursor.execute(sql, params)


def uninstall(apps: Any, schema_editor: Any) -> None:
    with schema_editor.connection.cursor() as cursor:
        cursor.execute(revenue_sql.triggers_drop_sql())
        cursor.execute(f"DROP FUNCTION IF EXISTS {revenue_sql.DAY_FUNCTION}(timestamptz)")


class Migration(migrations.Migration):
    dependencies = [
        ("overview", "0001_initial"),
        ("payments", "0006_device_address_unique"),
        ("vending", "0002_terminal_device_link"),
        ("marketplaces", "0001_kaspi"),
        ("marketplaces_emag", "0001_initial"),
    ]

    operations = [migrations.RunPython(install, uninstall)]
