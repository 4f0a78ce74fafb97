from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import pytest

from marketplaces.emag.models import EmagAccount
from sandbox.emag import EmagSimulator
from tests.factories import MerchantFactory

FAST = {"EMAG_BACKOFF_BASE_SECONDS": 0.01}


@pytest.fixture
def emag(start_simulator: Callable[..., Any]) -> Callable[..., EmagSimulator]:
    """Start an eMAG simulator and point every platform's base URL at it (backoff made fast)."""

    def start(**options: Any) -> EmagSimulator:
        sim = EmagSimulator(**options)
        start_simulator(sim, **FAST)
        return sim

    return start


@pytest.fixture
def make_account(db: None) -> Callable[..., EmagAccount]:
    """An account with a fresh API user (so its Redis limiters are its own) registered at ``sim``."""

    def make(sim: EmagSimulator | None = None, merchant: Any = None, **fields: Any) -> EmagAccount:
        user = f"user-{secrets.token_hex(4)}"
        password = secrets.token_urlsafe(12)
        if sim is not None:
            sim.users[user] = password
        values = {"name": "eMAG test", "platform": "ro", "api_user": user, "api_password": password, **fields}
        return EmagAccount.objects.create(merchant=merchant or MerchantFactory(), **values)

    return make
