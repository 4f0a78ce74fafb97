"""The webhook log on core.inbox's base: ``error`` is ``last_error``, a real ``retry`` status with
``next_attempt_at`` replaces "failed + the error string 'worker lost while processing'"."""

from django.conf import settings
from django.db import migrations, models
from django.utils import timezone

LOST = "worker lost while processing"


def retry_state_from_error(apps, schema_editor):
    """A failed delivery the old sweep would have run again (its error said a worker was lost, and
    attempts remained) is now ``retry``, due at once; every other failed one stays ``failed``."""
    WebhookLog = apps.get_model("poster_sync", "WebhookLog")
    WebhookLog.objects.filter(
        status="failed", last_error=LOST, attempts__lt=settings.POSTER_WEBHOOK_MAX_ATTEMPTS
    ).update(status="retry", next_attempt_at=timezone.now())


def retry_state_to_error(apps, schema_editor):
    WebhookLog = apps.get_model("poster_sync", "WebhookLog")
    WebhookLog.objects.filter(status="retry").update(status="failed", last_error=LOST, next_attempt_at=None)


class Migration(migrations.Migration):
    dependencies = [
        ("poster_sync", "0003_verbose_names"),
    ]

    operations = [
        migrations.RenameField(model_name="webhooklog", old_name="error", new_name="last_error"),
        migrations.AlterField(
            model_name="webhooklog",
            name="last_error",
            field=models.TextField(blank=True, default="", verbose_name="error / outcome"),
        ),
        migrations.AddField(
            model_name="webhooklog",
            name="next_attempt_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="next attempt at"),
        ),
        migrations.AlterField(
            model_name="webhooklog",
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
        migrations.RunPython(retry_state_from_error, retry_state_to_error),
    ]
