"""Sending one message to one channel: Apprise for Telegram and any Apprise URL, Django mail for e-mail.

Apprise is the notification library (https://github.com/caronc/apprise): a URL names the service
and carries its credentials (``tgram://token/chat``, ``slack://…``, ``json://host/path``). Its
own HTTP timeouts apply (connect 4 s, read 4 s unless the URL says ``cto=``/``rto=``), so one slow
channel holds a sending worker for seconds, never longer.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import apprise
from django.conf import settings
from django.core.mail import send_mail
from django.utils.translation import gettext


class DeliveryError(Exception):
    """The channel did not take the message; the text is safe to show (no secrets)."""


def url_valid(url: str) -> bool:
    return bool(apprise.Apprise().add(url))


def _host(url: str) -> str:
    try:
        return (urlsplit(url.strip()).hostname or "").lower()
    except ValueError:
        return ""


def url_refusal(url: str) -> str | None:
    """Why this Apprise URL may not be used (a sentence for the owner), or None when it may: a service
    on ``ALERTS_APPRISE_SCHEMES``, or a host on ``ALERTS_APPRISE_HOSTS`` (SSRF: never just any host)."""
    scheme = url.strip().split("://", 1)[0].lower() if "://" in url else ""
    if scheme and scheme in {s.lower() for s in settings.ALERTS_APPRISE_SCHEMES}:
        return None
    host = _host(url)
    allowed = {h.lower() for h in settings.ALERTS_APPRISE_HOSTS}
    if settings.ALERTS_SANDBOX_URL:
        allowed.add(_host(settings.ALERTS_SANDBOX_URL))
    if host and host in allowed:
        return None
    services = ", ".join(f"{s}://" for s in settings.ALERTS_APPRISE_SCHEMES) or "-"
    return gettext(
        "This service or host is not allowed here. Allowed services: %(services)s; other hosts only when the "
        "operator lists them in ALERTS_APPRISE_HOSTS."
    ) % {"services": services}


def telegram_url(*, token: str, chat_id: str) -> str:
    return f"tgram://{token}/{chat_id}"


def send_apprise(*, url: str, title: str, body: str) -> None:
    refusal = url_refusal(url)
    if refusal is not None:  # a channel saved before the operator narrowed the lists
        raise DeliveryError(refusal)
    notifier = apprise.Apprise()
    if not notifier.add(url):
        raise DeliveryError("The channel's URL is not one Apprise understands.")
    with apprise.LogCapture(level=apprise.logging.WARNING) as log:
        ok = bool(notifier.notify(title=title, body=body))
    if not ok:
        # Apprise logs the reason (no credentials in it); keep the last line, cut.
        lines = [line for line in log.getvalue().splitlines() if line.strip()]
        reason = lines[-1].split(" - ", 2)[-1] if lines else "the service refused the message"
        raise DeliveryError(reason[:300])


def send_email(*, to: str, title: str, body: str) -> None:
    try:
        send_mail(title, body, settings.DEFAULT_FROM_EMAIL, [to], fail_silently=False)
    except Exception as exc:  # SMTP errors of every kind: the delivery is retried with backoff
        raise DeliveryError(f"{type(exc).__name__}: {str(exc)[:200]}") from exc
