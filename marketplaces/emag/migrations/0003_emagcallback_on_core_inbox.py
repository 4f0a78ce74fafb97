"""eMAG callbacks on core.inbox's base: a status from a transition table instead of "processed_at
is null" (+ a last_error), attempts and a next attempt for the one sweep's backoff."""

from django.db import migrations, models
from django.db.models import F
from django.utils import timezone


def status_from_fields(apps, schema_editor):
    """processed_at set → processed; not yet, with an error → retry, due at once (the old sweep ran
    every unprocessed callback again); not yet, no error → received (its task, or the sweep, runs it)."""
    Callback = apps.get_model("marketplaces_emag", "EmagCallback")
    Callback.objects.exclude(processed_at=None).update(status="processed")
    Callback.objects.filter(processed_at=None).exclude(last_error="").update(
        status="retry", attempts=1, next_attempt_at=timezone.now()
    )
    Callback.objects.filter(processed_at=None, last_error="").update(status="received")
    Callback.objects.update(payload=models.functions.JSONObject(order_id=F("emag_order_id")))


def noop(apps, schema_editor):
    pass  # the old fields are still there (processed_at, last_error): nothing to carry back


class Migration(migrations.Migration):
    dependencies = [
        ("marketplaces_emag", "0002_verbose_names"),
    ]

    operations = [
        migrations.AddField(
            model_name="emagcallback",
            name="attempts",
            field=models.PositiveIntegerField(default=0, verbose_name="attempts"),
        ),
        migrations.AddField(
            model_name="emagcallback",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="next attempt at"),
        ),
        migrations.AddField(
            model_name="emagcallback",
            name="payload",
            field=models.JSONField(default=dict, verbose_name="payload"),
        ),
        migrations.AddField(
            model_name="emagcallback",
            name="status",
            field=models.CharField(
                choices=[
                    ("received", "Received"),
                    ("processing", "Processing"),
                    ("retry", "Retrying"),
                    ("processed", "Processed"),
                    ("ignored", "Ignored (no change)"),
                    ("failed", "Failed"),
                    ("rejected", "Rejected (bad signature)"),
                ],
                default="received",
                max_length=16,
                verbose_name="status",
            ),
        ),
        migrations.AddField(
            model_name="emagcallback",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, verbose_name="updated at"),
        ),
        migrations.AlterField(
            model_name="emagcallback",
            name="last_error",
            field=models.TextField(blank=True, default="", verbose_name="error / outcome"),
        ),
        migrations.AlterField(
            model_name="emagcallback",
            name="received_at",
            field=models.DateTimeField(auto_now_add=True, db_index=True, verbose_name="received at"),
        ),
        migrations.RunPython(status_from_fields, noop),
    ]
