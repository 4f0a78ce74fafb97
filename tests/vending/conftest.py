from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.test import override_settings

from sandbox.vendista import SANDBOX_LOGIN, SANDBOX_PASSWORD, VendistaSimulator
from tests.factories import MerchantFactory, VendistaAccountFactory
from vending.models import VendistaAccount


@pytest.fixture
def vendista(sandbox: Callable[..., Any]) -> Callable[..., tuple[VendistaSimulator, str]]:
    """Start a Vendista simulator and point VENDISTA_API_URL at it."""
    overrides: list[Any] = []

    def start(**options: Any) -> tuple[VendistaSimulator, str]:
        sim = VendistaSimulator(**options)
        server = sandbox(sim)
        override = override_settings(VENDISTA_API_URL=server.url)
        override.enable()
        overrides.append(override)
        return sim, server.url

    yield start
    for override in overrides:
        override.disable()


@pytest.fixture
def make_account(db: None) -> Callable[..., VendistaAccount]:
    def make(merchant: Any = None, **fields: Any) -> VendistaAccount:
        values = {
            "name": "Sandbox account",
            "login": SANDBOX_LOGIN,
            "password": SANDBOX_PASSWORD,
            "rate_per_second": 1000.0,
            **fields,
        }
        return VendistaAccountFactory(merchant=merchant or MerchantFactory(), **values)

    return make
