from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from sandbox.vendista import SANDBOX_LOGIN, SANDBOX_PASSWORD, VendistaSimulator
from tests.factories import MerchantFactory, VendistaAccountFactory
from vending.models import VendistaAccount
from vending.services.accounts import MAX_RATE_PER_SECOND

# Accounts run at Vendista's real pace (VENDISTA_RATE_PER_SECOND, 1/s) unless a test passes this, the
# fastest an owner may set: only for a test about something else that reads dozens of pages (60 pages
# at 1/s are a minute per test), and it says so where it does.
MANY_PAGES_RATE = MAX_RATE_PER_SECOND


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
            **fields,
        }
        return VendistaAccountFactory(merchant=merchant or MerchantFactory(), **values)

    return make
