"""Terminals: refreshed from Vendista by the sync; linked to a payments device by staff only."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from payments.models import Device

from ..clients.vendista import VendistaClient
from ..models import Terminal, VendistaAccount
from .accounts import account_client


def terminals_sync(*, account: VendistaAccount, client: VendistaClient | None = None) -> int:
    """Upsert the account's terminals; the staff-set ``device`` link is never touched by a sync."""
    client = client or account_client(account=account)
    terminals = client.terminals()
    zone = account.zone
    rows = [
        Terminal(
            account=account,
            term_id=t.id,
            comment=t.comment[:300],
            serial_number=t.serial_number[:100],
            last_online_time=t.last_online_time.replace(tzinfo=zone) if t.last_online_time else None,
            last_hour_online=t.last_hour_online,
            raw=t.raw,
        )
        for t in terminals
    ]
    Terminal.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["account", "term_id"],
        update_fields=["comment", "serial_number", "last_online_time", "last_hour_online", "raw", "updated_at"],
    )
    return len(rows)


def terminal_link_device(*, terminal: Terminal, device: Device | None) -> Terminal:
    """Link (or unlink, ``None``) a terminal to the payments device of the same machine and merchant."""
    if device is not None and device.merchant_id != terminal.account.merchant_id:
        raise ValidationError(
            {"device": gettext("The device belongs to another merchant than the terminal's account.")}
        )
    Terminal.objects.filter(pk=terminal.pk).update(device=device)
    terminal.device = device
    return terminal
