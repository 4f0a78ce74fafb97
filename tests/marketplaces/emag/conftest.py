from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.test import override_settings

from marketplaces.emag.models import EmagAccount
from sandbox.emag import EmagSimulator
from tests.factories import MerchantFactory

FAST = {"EMAG_BACKOFF_BASE_SECONDS": 0.01}


@pytest.fixture
def emag(sandbox: Callable[..., Any]) -> Iterator[Callable[..., EmagSimulator]]:
    """Start an eMAG simulator and point every platform's base URL at it (backoff made fast)."""
    overrides: list[Any] = []

    def start(**options: Any) -> EmagSimulator:
        sim = EmagSimulator(**options)
        server = sandbox(sim)
        override = override_settings(
            EMAG_API_URL=server.url, EMAG_BG_API_URL=server.url, EMAG_HU_API_URL=server.url, **FAST
        )
        override.enable()
        overrides.append(override)
        return sim

    yield start
    for override in reversed(overrides):
        override.disable()


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
