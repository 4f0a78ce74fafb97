"""`make run` demo: an alert channel to the sandbox inbox, whose messages a local page shows."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.conf import settings

from core.models import Merchant

from .models import AlertChannel


def demo_setup(*, merchant: Merchant) -> list[str]:
    url = settings.ALERTS_SANDBOX_URL
    if not url:
        return []
    parts = urlsplit(url)  # http://127.0.0.1:PORT/inbox → Apprise's json://127.0.0.1:PORT/inbox
    apprise_url = f"json://{parts.netloc}{parts.path}"
    channel = AlertChannel.objects.filter(merchant=merchant, name="Sandbox inbox").first()
    if channel is None:
        AlertChannel.objects.create(merchant=merchant, name="Sandbox inbox", kind="apprise", secret=apprise_url)
    else:
        channel.secret = apprise_url
        channel.save(update_fields=["secret"])
    page = f"{parts.scheme}://{parts.netloc}/"
    return [
        f"Alerts: messages to the demo merchant's sandbox channel show at {page}"
        " (admin → Alert channels → “Send a test message”; or make a sync fail 3 times, e.g. switch the"
        " Vendista account to a wrong token and sync thrice)",
    ]
