from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def rub(minor: int | None) -> str:
    """Kopecks → "1 234.50 ₽"."""
    value = int(minor or 0)
    sign = "-" if value < 0 else ""
    whole, cents = divmod(abs(value), 100)
    return f"{sign}{whole:,}.{cents:02d} ₽".replace(",", " ")
