"""Alert tasks: evaluate the conditions and send what is due, on the ``default`` queue."""

from __future__ import annotations

from celery import shared_task

from .services.delivery import deliveries_send_due
from .services.lifecycle import alerts_evaluate


@shared_task(name="alerts.tasks.alerts_run", queue="default", ignore_result=True)
def alerts_run() -> dict[str, int]:
    opened, closed = alerts_evaluate()
    sent, failed = deliveries_send_due()
    return {"opened": opened, "closed": closed, "sent": sent, "failed": failed}


@shared_task(name="alerts.tasks.deliveries_send", queue="default", ignore_result=True)
def deliveries_send() -> dict[str, int]:
    sent, failed = deliveries_send_due()
    return {"sent": sent, "failed": failed}
