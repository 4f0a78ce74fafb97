"""Open alerts about a Kaspi store link to its admin page under the ``kaspi`` app (kaspi 0001).

Kaspi's admin pages moved from ``/admin/marketplaces/…`` to ``/admin/kaspi/…`` with the app; an open
alert keeps its link until its text changes, so the stored links move with them. eMAG's
(``/admin/marketplaces_emag/…``) do not start with ``/admin/marketplaces/`` and stay.
"""

from __future__ import annotations

from typing import Any

from django.db import migrations
from django.db.models import Value
from django.db.models.functions import Concat, Substr

OLD = "/admin/marketplaces/"
NEW = "/admin/kaspi/"


def _move(apps: Any, schema_editor: Any, old: str, new: str) -> None:
    Alert = apps.get_model("alerts", "Alert")
    rows = Alert.objects.using(schema_editor.connection.alias).filter(link__startswith=old)
    rows.update(link=Concat(Value(new), Substr("link", len(old) + 1)))


def links_to_kaspi(apps: Any, schema_editor: Any) -> None:
    _move(apps, schema_editor, OLD, NEW)


def links_to_marketplaces(apps: Any, schema_editor: Any) -> None:
    _move(apps, schema_editor, NEW, OLD)


class Migration(migrations.Migration):

    dependencies = [
        ('alerts', '0003_verbose_names'),
        ('kaspi', '0001_initial'),
    ]

    operations = [migrations.RunPython(links_to_kaspi, links_to_marketplaces)]
