from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.vendista import SANDBOX_LOGIN, SANDBOX_PASSWORD, VendistaSimulator
from tests.factories import MerchantFactory, VendistaAccountFactory
from vending.models import VendistaAccount


@pytest.fixture
def vendista(start_simulator: Callable[..., Any]) -> Callable[..., tuple[VendistaSimulator, str]]:
    """Start a Vendista simulator and point VENDISTA_API_URL at it."""

    def start(**options: Any) -> tuple[VendistaSimulator, str]:
        sim = VendistaSimulator(**options)
        return sim, start_simulator(sim).url

    return start


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
