"""ARCHITECTURE.md's dependency rules, checked by walking imports with ast."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IN_SANDBOX = [
    ROOT / "sandbox" / "protocol.py",
    *sorted((ROOT / "sandbox" / "runtimes").rglob("*.py")),
]


def imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("package", ["sandbox", "netns"])
def test_leaf_packages_never_import_the_engine(package: str) -> None:
    for path in (ROOT / package).rglob("*.py"):
        tops = {top(m) for m in imports(path)}
        assert "engine" not in tops, path
        other = {"sandbox": "netns", "netns": "sandbox"}[package]
        assert other not in tops, f"{path} imports {other}"


@pytest.mark.parametrize("path", IN_SANDBOX, ids=lambda p: p.name)
def test_in_sandbox_code_imports_only_stdlib_msgpack_and_itself(path: Path) -> None:
    allowed = set(sys.stdlib_module_names) | {"msgpack", "sandbox", "__future__"}
    bad = {m for m in imports(path) if top(m) not in allowed}
    assert not bad, f"{path} imports {bad}"
    assert "trio" not in {top(m) for m in imports(path)}


def test_in_sandbox_sandbox_imports_stay_in_sandbox_code() -> None:
    ok = {"sandbox.protocol", "sandbox.errors"}
    for path in IN_SANDBOX:
        own = {m for m in imports(path) if top(m) == "sandbox"}
        assert own <= ok, f"{path} imports {own - ok}"


def test_spawner_does_not_import_trio() -> None:
    assert "trio" not in {top(m) for m in imports(ROOT / "sandbox" / "spawner.py")}
