"""State tables and compare-and-set transitions: one way for every state field of every app.

A state field with rules gets a :class:`StateTable` next to its service code::

    ORDER_STATUS = StateTable(Order, "status", {
        OrderStatus.CREATED: {OrderStatus.PENDING, OrderStatus.NOT_PAID},
        ...
        OrderStatus.SUCCESSFUL: set(),   # terminal
    })
    left = ORDER_STATUS.advance(pk=order.pk, to=OrderStatus.PAID)

``advance`` is one conditional UPDATE (``... WHERE pk = %s AND status = FROM``): of two concurrent
callers exactly one moves the row, the other gets ``None`` ("someone else already did it") and must
not perform the side effect. Side effects hang off rows that can exist only once (CONVENTIONS).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import models
from django.db.models import Q
from django.utils import timezone


class TransitionNotAllowed(ValueError):
    """A caller asked for a move the table does not contain: a programming error, not a race."""


class StateTable:
    def __init__(self, model: type[models.Model], field: str, table: Mapping[str, Iterable[str]]) -> None:
        self.model = model
        self.field = field
        self.table: dict[str, frozenset[str]] = {str(state): frozenset(map(str, to)) for state, to in table.items()}
        unknown = {to for targets in self.table.values() for to in targets} - set(self.table)
        if unknown:
            raise ValueError(f"{model.__name__}.{field}: targets {sorted(unknown)} are not states of the table")
        choices = {str(value) for value, _ in (model._meta.get_field(field).choices or [])}  # type: ignore[union-attr]
        if choices and set(self.table) != choices:
            raise ValueError(f"{model.__name__}.{field}: table states differ from the field's choices")
        self._touch_updated_at = any(f.name == "updated_at" for f in model._meta.concrete_fields)

    @property
    def terminal(self) -> frozenset[str]:
        return frozenset(state for state, targets in self.table.items() if not targets)

    def can(self, from_: str, to: str) -> bool:
        return str(to) in self.table.get(str(from_), frozenset())

    def sources(self, to: str, from_: str | Iterable[str] | None = None) -> list[str]:
        """The states ``to`` may be reached from, narrowed to ``from_`` when given (each must be allowed)."""
        allowed = [state for state, targets in self.table.items() if str(to) in targets]
        if from_ is None:
            return allowed
        wanted = {str(from_)} if isinstance(from_, str) else {str(s) for s in from_}
        bad = sorted(s for s in wanted if not self.can(s, to))
        if bad:
            raise TransitionNotAllowed(f"{self.model.__name__}.{self.field}: {bad} -> {to} is not in the table")
        return [s for s in allowed if s in wanted]

    def advance(
        self,
        *,
        pk: Any,
        to: str,
        from_: str | Iterable[str] | None = None,
        where: Mapping[str, Any] | Q | None = None,
        **fields: Any,
    ) -> str | None:
        """Move row ``pk`` to ``to`` if it is in an allowed source state; return the state it left.

        ``None`` means no move: the row is elsewhere (another caller won, or it is already past) or
        does not match ``where`` (lookups, or a ``Q``). ``fields`` are written in the same UPDATE;
        ``updated_at`` is set when the model has one. With one possible source the UPDATE alone decides; with several,
        the current state is read first and the UPDATE is conditional on it, re-read when the row
        moved in between (bounded: each re-read means it moved along the table).
        """
        sources, rows, changes = self._prepare(pk=pk, to=to, from_=from_, where=where, fields=fields)
        if len(sources) == 1:
            return sources[0] if rows.filter(**{self.field: sources[0]}).update(**changes) else None
        for _ in range(len(self.table) + 1):
            current = rows.values_list(self.field, flat=True).first()
            if current not in sources:
                return None
            if rows.filter(**{self.field: current}).update(**changes):
                return str(current)
        return None

    def move(
        self,
        *,
        pk: Any,
        to: str,
        from_: str | Iterable[str] | None = None,
        where: Mapping[str, Any] | Q | None = None,
        **fields: Any,
    ) -> bool:
        """Like :meth:`advance`, as ONE conditional UPDATE (``... AND status IN (sources)``) whatever
        the number of sources, for callers that need not know the state left (hot paths): ``True``
        if this caller moved the row."""
        sources, rows, changes = self._prepare(pk=pk, to=to, from_=from_, where=where, fields=fields)
        return bool(rows.filter(**{f"{self.field}__in": sources}).update(**changes))

    def _prepare(
        self,
        *,
        pk: Any,
        to: str,
        from_: str | Iterable[str] | None,
        where: Mapping[str, Any] | Q | None,
        fields: dict[str, Any],
    ) -> tuple[list[str], Any, dict[str, Any]]:
        sources = self.sources(to, from_)
        if not sources:
            raise TransitionNotAllowed(f"{self.model.__name__}.{self.field}: nothing leads to {to}")
        if self._touch_updated_at:
            fields.setdefault("updated_at", timezone.now())
        rows = self.model._default_manager.filter(pk=pk)
        rows = rows.filter(where) if isinstance(where, Q) else rows.filter(**(where or {}))
        return sources, rows, {self.field: to, **fields}
