"""A merchant's alert channels: saved through one service from the API and the admin (OWN-4)."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from ..clients import notify
from ..models import AlertChannel, Delivery


def alert_channel_check(channel: AlertChannel) -> None:
    errors: dict[str, str] = {}
    if channel.kind == AlertChannel.Kind.TELEGRAM:
        if not channel.secret:
            errors["secret"] = gettext("Give the Telegram bot token.")
        if not channel.telegram_chat_id:
            errors["telegram_chat_id"] = gettext("Give the Telegram chat id.")
        elif not notify.url_valid(notify.telegram_url(token=channel.secret or "x", chat_id=channel.telegram_chat_id)):
            errors["secret"] = gettext("This is not a Telegram bot token (digits:letters).")
    elif channel.kind == AlertChannel.Kind.EMAIL:
        if not channel.email_to:
            errors["email_to"] = gettext("Give the address to write to.")
    elif channel.kind == AlertChannel.Kind.APPRISE:
        if not channel.secret:
            errors["secret"] = gettext("Give the Apprise URL, e.g. slack://… or json://host/path.")
        elif not notify.url_valid(channel.secret):
            errors["secret"] = gettext("Apprise does not understand this URL.")
        elif (refusal := notify.url_refusal(channel.secret)) is not None:
            errors["secret"] = refusal
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def alert_channel_save(*, merchant: Any, data: dict[str, Any], account: AlertChannel | None = None) -> AlertChannel:
    """Create or update a channel; a blank secret on update keeps the stored one (write-only)."""
    channel = account or AlertChannel(merchant=merchant)
    for name, value in data.items():
        if name == "secret" and not value and account is not None:
            continue
        setattr(channel, name, value)
    alert_channel_check(channel)
    channel.save()
    return channel


def alert_channel_test(*, channel: AlertChannel) -> Delivery:
    """Queue a test message; it goes out with the next send (within seconds), retried like any other."""
    delivery = Delivery.objects.create(
        channel=channel,
        event=Delivery.Event.TEST,
        title="merchant-ops: test message",
        body=f"This channel ({channel.name}) will receive your alerts.",
        next_attempt_at=timezone.now(),
    )
    from ..tasks import deliveries_send

    transaction.on_commit(lambda: deliveries_send.delay())
    return delivery
