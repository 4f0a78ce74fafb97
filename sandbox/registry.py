"""Which simulators `make run` starts, on which fixed port, and which setting each stands in for.

Apps add theirs with ``register_simulator(...)`` in ``sandbox/<provider>.py`` and list the module
in ``SIMULATOR_MODULES`` so `run_sandbox` imports it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .harness import Simulator

SIMULATOR_MODULES: list[str] = [
    "sandbox.echo",
    "sandbox.yookassa",
    "sandbox.tbank",
    "sandbox.tmetr",
    "sandbox.coffee_machine",
    "sandbox.vendista",
    "sandbox.kaspi",
    "sandbox.emag",
    "sandbox.poster",
    "sandbox.alert_inbox",
    "sandbox.kaspi_market",  # replaces the "kaspi" entry with the moving market (same port)
]


@dataclass(frozen=True)
class SimulatorSpec:
    name: str
    factory: Callable[[], Simulator]
    port_offset: int  # port = SANDBOX_BASE_PORT + offset
    settings: dict[str, str]  # setting name → path suffix appended to the simulator's URL


_SIMULATORS: dict[str, SimulatorSpec] = {}
# Non-HTTP simulators (e.g. a coffee machine on MQTT): name → start() returning a stop() callable.
_SERVICES: dict[str, Callable[[], Callable[[], None]]] = {}


def register_service(name: str, start: Callable[[], Callable[[], None]]) -> None:
    _SERVICES[name] = start


def services() -> dict[str, Callable[[], Callable[[], None]]]:
    simulators()  # imports the modules that register services too
    return dict(_SERVICES)


def register_simulator(spec: SimulatorSpec) -> SimulatorSpec:
    _SIMULATORS[spec.name] = spec
    return spec


def simulator_spec(name: str) -> SimulatorSpec:
    """A spec registered so far (a module that refines another's simulator starts from it)."""
    return _SIMULATORS[name]


def simulators() -> list[SimulatorSpec]:
    import importlib

    for module in SIMULATOR_MODULES:
        importlib.import_module(module)
    return sorted(_SIMULATORS.values(), key=lambda s: s.port_offset)


def sandbox_environment(host: str, base_port: int) -> dict[str, str]:
    """The *_API_URL values that point every integration at its simulator."""
    env: dict[str, str] = {}
    for spec in simulators():
        for setting, suffix in spec.settings.items():
            env[setting] = f"http://{host}:{base_port + spec.port_offset}{suffix}"
    return env
