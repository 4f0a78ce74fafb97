"""Reads of alerts, always scoped to the caller's merchants for owners."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from core.selectors import scope_to_user

from .models import Alert, Delivery


def alerts_for_user(*, user: Any, open_only: bool = False) -> QuerySet[Alert]:
    qs = scope_to_user(Alert.objects.select_related("merchant"), user=user)
    return qs.filter(closed_at__isnull=True) if open_only else qs


def alerts_open(*, merchant_id: int) -> QuerySet[Alert]:
    """What needs a person now, newest first (the dashboard's list)."""
    return Alert.objects.filter(merchant_id=merchant_id, closed_at__isnull=True).order_by("-opened_at")


def deliveries_of(*, alert: Alert) -> QuerySet[Delivery]:
    return alert.deliveries.select_related("channel").order_by("created_at", "id")
