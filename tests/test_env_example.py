""".env.example tells the truth (issue 21): a commented line ``#NAME=value`` shows the default the
settings (or bin/start) really use, and every name it lists is read by the project."""

from __future__ import annotations

import ast
import operator
import re
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
_UNKNOWN = object()
_OPS = {ast.Mult: operator.mul, ast.Add: operator.add, ast.Sub: operator.sub, ast.Div: operator.truediv}


def _evaluate(node: ast.expr) -> Any:
    """A default's value as production sees it (DEBUG off), or _UNKNOWN when it is computed."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.List):
        items = [_evaluate(e) for e in node.elts]
        return _UNKNOWN if _UNKNOWN in items else items
    if isinstance(node, ast.Name) and node.id == "DEBUG":
        return False
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        inner = _evaluate(node.operand)
        return _UNKNOWN if inner is _UNKNOWN else not inner
    if isinstance(node, ast.IfExp):
        test = _evaluate(node.test)
        return _UNKNOWN if test is _UNKNOWN else _evaluate(node.body if test else node.orelse)
    if isinstance(node, ast.BinOp) and type(node.op) in _OPS:
        left, right = _evaluate(node.left), _evaluate(node.right)
        return _UNKNOWN if _UNKNOWN in (left, right) else _OPS[type(node.op)](left, right)
    return _UNKNOWN


def settings_defaults() -> dict[str, tuple[str, Any]]:
    """NAME → (reader, default) for every ``env.<reader>("NAME", default=...)`` in config/settings."""
    found: dict[str, tuple[str, Any]] = {}
    for path in sorted((ROOT / "config" / "settings").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            func = node.func
            if isinstance(func, ast.Name) and func.id == "env":
                reader = "str"
            elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env":
                reader = func.attr
            else:
                continue
            default = next((_evaluate(k.value) for k in node.keywords if k.arg == "default"), _UNKNOWN)
            name = str(node.args[0].value)
            if name in found and found[name][1] != default:
                default = _UNKNOWN  # read twice with different defaults (e.g. TIME_ZONE): not comparable
            found[name] = (reader, default)
    return found


def start_defaults() -> dict[str, str]:
    return dict(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-([^}]*)\}", (ROOT / "bin" / "start").read_text()))


def example_lines() -> dict[str, tuple[bool, str]]:
    """NAME → (commented, value) of .env.example."""
    text = (ROOT / ".env.example").read_text()
    return {m[1]: (m[0] == "#", m[2]) for m in re.findall(r"^(#?)([A-Z][A-Z0-9_]+)=(.*)$", text, flags=re.M)}


def _as_text(reader: str, value: Any) -> str:
    if reader == "bool":
        return "1" if value else "0"
    if reader == "list":
        return ",".join(value)
    if reader == "float":
        return repr(float(value))
    return str(value)


def _normal(reader: str, shown: str) -> str:
    if reader == "float":
        return repr(float(shown))
    if reader == "bool":
        return "1" if shown.lower() in ("1", "true", "yes", "on") else "0"
    return shown


def test_every_commented_default_is_the_real_default() -> None:
    defaults, start = settings_defaults(), start_defaults()
    wrong = {}
    compared = 0
    for name, (commented, shown) in example_lines().items():
        if not commented or shown.startswith(" "):
            continue  # a value to fill in, or a default described in words
        if name in defaults and defaults[name][1] is not _UNKNOWN:
            reader, value = defaults[name]
            compared += 1
            if _normal(reader, shown) != _as_text(reader, value):
                wrong[name] = (shown, _as_text(reader, value))
        elif name in start:
            compared += 1
            if shown != start[name]:
                wrong[name] = (shown, start[name])
    assert wrong == {}, "NAME: (.env.example, real default)"
    assert compared > 100


def test_the_example_lists_only_names_the_project_reads() -> None:
    read = set(settings_defaults()) | set(start_defaults())
    sources = (ROOT / "bin" / "start").read_text() + (ROOT / "docker-compose.yml").read_text()
    read |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+)", sources))
    assert sorted(set(example_lines()) - read) == []


def test_no_sqlite_and_the_real_visibility_timeout() -> None:
    text = (ROOT / ".env.example").read_text()
    assert "sqlite" not in text.lower()
    assert "#CELERY_VISIBILITY_TIMEOUT=600\n" in text
