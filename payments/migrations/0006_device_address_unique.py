"""One machine per address (SPEC PLAT-15): a device's external id, else its code, is unique across the
platform, and no external id equals another device's code.

Existing duplicates are never renamed here: which machine keeps the address is the operator's call.
The migration stops and lists them; fix them in the admin (or the API) and run it again.
"""

import django.db.models.functions.comparison
from django.db import migrations, models


def duplicate_addresses(Device) -> list[str]:
    """Every clash, as lines naming the devices (id, merchant, code, external id)."""
    rows = list(Device.objects.order_by("pk").values_list("pk", "merchant_id", "code", "external_id"))
    by_address: dict[str, list[tuple]] = {}
    for row in rows:
        by_address.setdefault(row[3] or row[2], []).append(row)
    codes = {row[2]: row for row in rows}

    def name(row: tuple) -> str:
        return f"device {row[0]} (merchant {row[1]}, code {row[2]!r}, external_id {row[3]!r})"

    problems = [
        f"address {address!r} is used by " + ", ".join(name(r) for r in same)
        for address, same in sorted(by_address.items())
        if len(same) > 1
    ]
    for row in rows:
        other = codes.get(row[3]) if row[3] else None
        if other is not None and other[0] != row[0]:
            problems.append(f"external_id {row[3]!r} of {name(row)} is the code of {name(other)}")
    return problems


def refuse_duplicates(apps, schema_editor) -> None:
    problems = duplicate_addresses(apps.get_model("payments", "Device"))
    if problems:
        raise RuntimeError(
            "Devices share an address (the MQTT topic id and the legacy QR's deviceUuid: external_id, else "
            "code). Give each machine its own external_id, then run migrate again. Nothing was changed.\n  "
            + "\n  ".join(problems)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("payments", "0005_settlement_capture_failed"),
    ]

    operations = [
        migrations.RunPython(refuse_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="device",
            constraint=models.UniqueConstraint(
                django.db.models.functions.comparison.Coalesce(
                    django.db.models.functions.comparison.NullIf("external_id", models.Value("")),
                    "code",
                    output_field=models.CharField(),
                ),
                name="payments_device_address_unique",
                violation_error_message="Another device already has this address (external id or code).",
            ),
        ),
    ]
