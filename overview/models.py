"""The owner's one view (SPEC OWN-1): revenue per merchant, day, channel, currency and kind."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from core.models import Merchant


class Channel(models.TextChoices):
    QR = "qr", _("QR coffee payments")
    VENDISTA = "vendista", _("Vendista")
    KASPI = "kaspi", _("Kaspi")
    EMAG = "emag", _("eMAG")


class Kind(models.TextChoices):
    SALE = "sale", _("Sales")
    RETURN = "return", _("Returns")
    CANCEL = "cancel", _("Cancellations")
    OPEN = "open", _("Open orders")


class RevenueDay(models.Model):
    """Kept by database triggers on the source tables (overview/revenue_sql.py), never by Python."""

    merchant = models.ForeignKey(
        Merchant, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False, verbose_name=_("merchant")
    )
    day = models.DateField(verbose_name=_("day"))
    channel = models.CharField(max_length=16, choices=Channel.choices, verbose_name=_("channel"))
    currency = models.CharField(max_length=8, verbose_name=_("currency"))
    kind = models.CharField(max_length=8, choices=Kind.choices, verbose_name=_("kind"))
    count = models.BigIntegerField(default=0, verbose_name=_("count"))
    amount = models.DecimalField(max_digits=20, decimal_places=4, default=0, verbose_name=_("amount"))

    class Meta:
        ordering = ["merchant_id", "day", "channel", "currency", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "channel", "currency", "kind"], name="uniq_overview_revenue_day"
            )
        ]
        verbose_name = _("revenue day")
        verbose_name_plural = _("revenue days")

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.kind} {self.amount} {self.currency}"
