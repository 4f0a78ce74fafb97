"""Django finds the app's models here; each platform keeps its own in its module."""

from __future__ import annotations

from .kaspi.models import KaspiOrder, KaspiOrderEntry, KaspiProduct, KaspiStore, Preorder, SessionState

__all__ = ["KaspiOrder", "KaspiOrderEntry", "KaspiProduct", "KaspiStore", "Preorder", "SessionState"]
