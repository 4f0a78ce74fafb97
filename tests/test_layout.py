"""Checks of the code's shape (issue 10): production never imports the simulators, apps depend one
way, and no production or simulator module grows past 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = ["config", "core", "payments", "vending", "marketplaces", "poster_sync", "repricer", "overview", "alerts"]


def _modules() -> list[Path]:
    return sorted(
        path
        for package in PRODUCTION
        if (ROOT / package).is_dir()
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts
    )


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_production_never_imports_the_simulators(path: Path) -> None:
    assert not {name for name in _imports(path) if name == "sandbox" or name.startswith("sandbox.")}


def test_payments_never_imports_vending() -> None:
    """Vending may link to payments' devices; payments knows nothing of vending."""
    offenders = [
        str(path.relative_to(ROOT))
        for path in (ROOT / "payments").rglob("*.py")
        if "migrations" not in path.parts and any(n.split(".")[0] == "vending" for n in _imports(path))
    ]
    assert offenders == []


def _sandbox_modules() -> list[Path]:
    return sorted((ROOT / "sandbox").rglob("*.py"))


def test_no_production_or_simulator_module_over_500_lines() -> None:
    """The simulators are code the tests and `make run` stand on: the same limit (issue 22)."""
    long = {
        str(p.relative_to(ROOT)): n
        for p in [*_modules(), *_sandbox_modules()]
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert long == {}


def _service_functions() -> list[tuple[Path, str]]:
    found = []
    for path in _modules():
        if path.parent.name != "services" and path.name not in ("services.py", "selectors.py"):
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
                found.append((path, node.name))
    return found


def test_every_service_and_selector_is_called_by_production_code() -> None:
    """Dead code found by reading (orders_for_user, ...) is caught by this check instead."""
    sources = {path: path.read_text(encoding="utf-8") for path in _modules()}
    unused = []
    for path, name in _service_functions():
        calls = sum(text.count(name) for other, text in sources.items() if other != path)
        if calls == 0 and sources[path].count(name) < 2:
            unused.append(f"{path.relative_to(ROOT)}:{name}")
    assert unused == []


def _redis_clients_made(path: Path) -> list[int]:
    """Lines that build a Redis client (``Redis(...)``, ``Redis.from_url(...)``, ``redis.from_url(...)``)."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Call):
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            owner = func.value if isinstance(func, ast.Attribute) else None
            owner_name = getattr(owner, "attr", None) or getattr(owner, "id", None)
            if name in ("Redis", "StrictRedis") or (name == "from_url" and owner_name in ("Redis", "redis")):
                lines.append(node.lineno)
    return lines


def test_redis_clients_come_only_from_core_redis_client() -> None:
    """One place makes Redis clients (issue 22): ``shared_redis`` and ``thread_redis``; a module that
    opens its own pays a connection per call and escapes the pooling and fork rules."""
    made = {
        str(path.relative_to(ROOT)): lines
        for path in _modules()
        if path != ROOT / "core" / "redis_client.py" and (lines := _redis_clients_made(path))
    }
    assert made == {}


def test_no_function_but_the_modules_is_named_redis_client() -> None:
    """``core.redis_client`` names where clients come from; a function of that name elsewhere (the
    repricer's was a per-thread client) would mean a second kind under the same name."""
    defined = [
        str(path.relative_to(ROOT))
        for path in _modules()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.FunctionDef) and node.name in ("redis_client", "_redis_client")
    ]
    assert defined == []


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_another_modules_private_helper(path: Path) -> None:
    """A ``_name`` is its module's own (issue 22): a helper two modules need lives in a public one."""
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
        if alias.name.startswith("_") and not alias.name.startswith("__")
    ]
    assert private == []
