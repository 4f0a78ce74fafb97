"""Webhook deliveries on core.inbox's base: ``outcome`` becomes the inbox ``status`` (applied →
processed), ``note`` becomes ``last_error``; attempts and a next attempt for the one sweep's backoff."""

from django.db import migrations, models
from django.utils import timezone

STATUS_CHOICES = [
    ("received", "Received"),
    ("processing", "Processing"),
    ("retry", "Retrying"),
    ("processed", "Processed"),
    ("ignored", "Ignored (no change)"),
    ("failed", "Failed"),
    ("rejected", "Rejected (bad signature)"),
]


def status_from_outcome(apps, schema_editor):
    """applied → processed; ignored stays; received stays (its task, or the sweep, applies it). A
    processed delivery counts one attempt."""
    Delivery = apps.get_model("payments", "WebhookDelivery")
    Delivery.objects.filter(status="applied").update(status="processed")
    Delivery.objects.exclude(processed_at=None).update(attempts=1)


def outcome_from_status(apps, schema_editor):
    Delivery = apps.get_model("payments", "WebhookDelivery")
    Delivery.objects.filter(status="processed").update(status="applied")
    Delivery.objects.exclude(status__in=["applied", "ignored"]).update(status="received", processed_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("payments", "0007_verbose_names"),
    ]

    operations = [
        migrations.RenameField(model_name="webhookdelivery", old_name="outcome", new_name="status"),
        migrations.RenameField(model_name="webhookdelivery", old_name="note", new_name="last_error"),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="status",
            field=models.CharField(choices=STATUS_CHOICES, default="received", max_length=16, verbose_name="status"),
        ),
        migrations.AlterField(
            model_name="webhookdelivery",
            name="last_error",
            field=models.TextField(blank=True, default="", verbose_name="error / outcome"),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="attempts",
            field=models.PositiveIntegerField(default=0, verbose_name="attempts"),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="next attempt at"),
        ),
        migrations.AddField(
            model_name="webhookdelivery",
            name="updated_at",
            field=models.DateTimeField(auto_now=True, default=timezone.now, verbose_name="updated at"),
            preserve_default=False,
        ),
        migrations.RunPython(status_from_outcome, outcome_from_status),
    ]
