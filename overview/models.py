"""The owner's one view (SPEC OWN-1): revenue per merchant, day, channel, currency and kind."""

from __future__ import annotations

from django.db import models

from core.models import Merchant


class Channel(models.TextChoices):
    QR = "qr", "QR coffee payments"
    VENDISTA = "vendista", "Vendista"
    KASPI = "kaspi", "Kaspi"
    EMAG = "emag", "eMAG"


class Kind(models.TextChoices):
    SALE = "sale", "Sales"
    RETURN = "return", "Returns"
    CANCEL = "cancel", "Cancellations"
    OPEN = "open", "Open orders"


class RevenueDay(models.Model):
    """Kept by database triggers on the source tables (overview/revenue_sql.py), never by Python."""

    merchant = models.ForeignKey(Merchant, on_delete=models.DO_NOTHING, related_name="+", db_constraint=False)
    day = models.DateField()
    channel = models.CharField(max_length=16, choices=Channel.choices)
    currency = models.CharField(max_length=8)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    count = models.BigIntegerField(default=0)
    amount = models.DecimalField(max_digits=20, decimal_places=4, default=0)

    class Meta:
        ordering = ["merchant_id", "day", "channel", "currency", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "day", "channel", "currency", "kind"], name="uniq_overview_revenue_day"
            )
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.channel} {self.kind} {self.amount} {self.currency}"
