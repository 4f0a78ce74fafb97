"""Poster is paced as its client declares, across processes (issue 22): two worker processes calling
for one account share one evenly spaced lane at POSTER_RATE_PER_SECOND."""

from __future__ import annotations

import uuid

from tests.support.pacing import assert_paced, grants_across_processes


def test_the_declared_poster_pace_holds_across_two_processes(settings) -> None:
    slots, rate = grants_across_processes(
        "poster_sync.clients.poster:pacer",
        account_id=uuid.uuid4().int % 10**12,
        rate_per_second=settings.POSTER_RATE_PER_SECOND,
        grants=4,
    )
    assert rate == settings.POSTER_RATE_PER_SECOND == 5.0
    assert_paced(slots, rate)
