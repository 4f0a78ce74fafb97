from __future__ import annotations

from collections.abc import Iterator

import pytest

from .inbox import Inbox


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    box = Inbox()
    yield box
    box.close()
