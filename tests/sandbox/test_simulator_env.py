"""One way to point the settings at a simulator (tests/support/simulators.py, the start_simulator fixture)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.conf import settings

from sandbox.harness import SandboxServer
from sandbox.kaspi import KaspiSimulator
from sandbox.registry import simulators
from sandbox.vendista import VendistaSimulator
from tests.support.simulators import simulator_env


def test_a_started_simulator_stands_for_every_url_its_registry_entry_names(
    sandbox: Callable[[KaspiSimulator], SandboxServer],
) -> None:
    sim = KaspiSimulator(offers=1, orders=1)
    url = sandbox(sim).url
    assert simulator_env(sim) == {
        "KASPI_SHOP_API_URL": f"{url}/shop/api/v2",
        "KASPI_OFFERS_URL": f"{url}/yml/offer-view/offers",
        "KASPI_CABINET_URL": url,
        "KASPI_LOGIN_URL": f"{url}/login",
    }


def test_a_simulator_not_serving_has_no_environment() -> None:
    with pytest.raises(ValueError):
        simulator_env(VendistaSimulator(total=1))


def test_start_simulator_points_the_settings_at_it_and_sets_the_extras(
    start_simulator: Callable[..., SandboxServer], settings: Any
) -> None:
    sim = VendistaSimulator(total=1)
    server = start_simulator(sim, VENDISTA_PAGE_SIZE=7)
    assert settings.VENDISTA_API_URL == server.url == sim.base_url
    assert settings.VENDISTA_PAGE_SIZE == 7


def test_every_setting_a_simulator_stands_for_is_a_real_setting() -> None:
    named = {name for spec in simulators() for name in spec.settings}
    assert named and sorted(name for name in named if not hasattr(settings, name)) == []
