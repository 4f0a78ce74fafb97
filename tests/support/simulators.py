"""A running simulator and the settings pointing at it: one way for every test (issue 22).

The settings are the ones the simulator's registry entry names (``sandbox/registry.py``, the same
`make run` sets), so a test and the sandbox cannot disagree on which URL stands for which provider.
The ``start_simulator`` fixture (tests/conftest.py) sets them for the test process; a worker process
takes ``simulator_env(sim)`` into its environment.
"""

from __future__ import annotations

from sandbox.harness import Simulator
from sandbox.registry import simulator_spec


def simulator_env(simulator: Simulator) -> dict[str, str]:
    """Setting name → URL for a started simulator (e.g. ``KASPI_SHOP_API_URL`` → ``<url>/shop/api/v2``)."""
    if not simulator.base_url:
        raise ValueError(f"simulator {simulator.name!r} is not serving yet")
    spec = simulator_spec(simulator.name)
    return {setting: f"{simulator.base_url}{suffix}" for setting, suffix in spec.settings.items()}
