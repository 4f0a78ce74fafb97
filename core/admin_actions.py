"""The one admin action loop (issue 22): run a service per selected row and report with the admin's
message framework how many succeeded and which failed, so an action is its service call and its words."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext

T = TypeVar("T")


def admin_run_each(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    rows: Iterable[T],
    service: Callable[[T], object],
    *,
    done: str,
    errors: tuple[type[Exception], ...] = (),
    name: Callable[[T], str] = str,
) -> tuple[int, int]:
    """``service(row)`` for each row. A failure of a kind in ``errors`` is that row's error message
    and the loop goes on; any other exception propagates (a bug is not "failed"). A string the service
    returns is that row's note. Ends with ``done`` (``%(count)d``: the rows that succeeded) and, when
    some failed, their count. Returns (succeeded, failed)."""
    succeeded = failed = 0
    for row in rows:
        try:
            note = service(row)
        except errors as exc:
            failed += 1
            model_admin.message_user(
                request, gettext("%(row)s: %(error)s") % {"row": name(row), "error": exc}, messages.ERROR
            )
            continue
        succeeded += 1
        if isinstance(note, str) and note:
            model_admin.message_user(request, f"{name(row)}: {note}", messages.INFO)
    level = messages.SUCCESS if not failed else messages.WARNING
    summary = done % {"count": succeeded}
    if failed:
        summary += " " + ngettext("%(count)d failed.", "%(count)d failed.", failed) % {"count": failed}
    model_admin.message_user(request, summary, level)
    return succeeded, failed
