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
    # The runtimes' own modules (staged with them for exec'd interpreters) are in-sandbox too.
    own_modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for p in IN_SANDBOX}
    ok = {"sandbox.protocol", "sandbox.errors"} | own_modules
    for path in IN_SANDBOX:
        own = {m for m in imports(path) if top(m) == "sandbox"}
        assert own <= ok, f"{path} imports {own - ok}"


def test_spawner_does_not_import_trio() -> None:
    assert "trio" not in {top(m) for m in imports(ROOT / "sandbox" / "spawner.py")}


# --- engine/'s rooms and the order of their floors -------------------------------------------

# What each room of engine/ may import, besides itself and the standard library / third-party
# packages. ARCHITECTURE.md draws the same table as floors; keep them in agreement.
# "engine" is the package root's wiring: daemon.py, and config.py / errors.py below everything.
ALLOWED: dict[str, set[str]] = {
    "cli": {"daemon", "metrics", "auth", "registry", "config", "errors"},
    "daemon": {
        "services", "lifecycle", "endpoint", "host", "urls", "metrics", "api", "sources",
        "scheduler", "sqs", "kinesis", "cwlogs", "events", "invoke", "control", "network",
        "registry", "journal", "runtime", "auth", "shapes", "usage", "config", "errors", "sandbox",
    },
    "services": {
        "lifecycle", "endpoint", "host", "urls", "metrics", "api", "events", "invoke", "control",
        "network", "usage", "registry", "runtime", "auth", "config", "errors",
    },
    "lifecycle": {"host", "config", "errors"},
    "endpoint": set(),
    "host": {"invoke", "config", "errors", "sandbox"},
    "urls": {"api", "invoke", "control", "model", "shapes", "auth", "errors"},
    "metrics": {"events", "invoke", "runtime", "model", "errors"},
    "api": {
        "events", "invoke", "control", "network", "runtime", "usage", "model", "shapes", "errors",
    },
    "sources": {
        "sqs", "kinesis", "invoke", "control", "journal", "runtime", "model", "config", "errors",
    },
    "scheduler": {"journal", "model", "shapes", "config", "errors"},
    "sqs": {"journal", "model", "shapes", "config", "errors"},
    "kinesis": {"journal", "model", "shapes", "config", "errors"},
    "cwlogs": {"runtime", "model", "shapes", "config", "errors"},
    "events": {"invoke", "control", "journal", "runtime", "model", "config", "errors"},
    "invoke": {"control", "network", "runtime", "model", "config", "errors", "sandbox", "netns"},
    "control": {"registry", "model", "errors"},
    "network": {"registry", "model", "config", "errors", "netns"},
    "registry": {"model", "errors"},
    "usage": {"journal", "runtime", "model", "config", "errors"},
    "journal": {"errors"},
    "runtime": {"model", "errors", "sandbox"},
    "model": {"shapes", "errors"},
    "shapes": {"errors"},
    "auth": {"config", "errors"},
    "config": {"errors", "netns"},
    "errors": set(),
}  # fmt: skip
ENGINE = ROOT / "engine"


def room_of(path: Path) -> str:
    """`engine/invoke/pool.py` -> "invoke"; `engine/daemon.py` -> "daemon"."""
    parts = path.relative_to(ENGINE).parts
    return parts[0] if len(parts) > 1 else parts[0].removesuffix(".py")


def room_of_module(name: str) -> str | None:
    """The room an imported module is in, or None when it is outside the project."""
    parts = name.split(".")
    if parts[0] in ("sandbox", "netns"):
        return parts[0]
    if parts[0] != "engine" or len(parts) < 2:
        return None
    return parts[1]


def import_lines(path: Path) -> list[tuple[int, str, list[str]]]:
    """(line, module, imported names) for every absolute import of `path`."""
    found: list[tuple[int, str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module, [a.name for a in node.names]))
    return found


def test_every_room_is_in_the_table() -> None:
    rooms = {room_of(p) for p in ENGINE.rglob("*.py")} - {"__init__"}
    assert rooms <= set(ALLOWED), f"rooms missing from ALLOWED: {rooms - set(ALLOWED)}"


def test_rooms_import_only_what_the_table_allows() -> None:
    offending = []
    for path in sorted(ENGINE.rglob("*.py")):
        room = room_of(path)
        if room == "__init__":
            continue
        for line, module, _ in import_lines(path):
            target = room_of_module(module)
            if target is None or target == room:
                continue
            if target not in ALLOWED[room]:
                rel = path.relative_to(ROOT)
                offending.append(f"{rel}:{line}: {room} imports {module} ({target})")
    assert not offending, "imports against the layering table:\n" + "\n".join(offending)


def test_the_table_itself_has_no_circle() -> None:
    done: set[str] = set()

    def visit(room: str, path: tuple[str, ...]) -> None:
        assert room not in path, f"circle: {' -> '.join((*path, room))}"
        if room in done:
            return
        for below in ALLOWED.get(room, set()):
            visit(below, (*path, room))
        done.add(room)

    for room in ALLOWED:
        visit(room, ())


def _module_name(path: Path) -> str:
    name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


@pytest.mark.parametrize("package", ["engine", "sandbox", "netns"])
def test_modules_import_each_other_without_circles(package: str) -> None:
    graph: dict[str, set[str]] = {}
    paths = sorted((ROOT / package).rglob("*.py"))
    names = {_module_name(p) for p in paths}
    for path in paths:
        deps = set()
        for _, module, imported in import_lines(path):
            deps |= {f"{module}.{n}" for n in imported if f"{module}.{n}" in names}
            if module in names:
                deps.add(module)
        graph[_module_name(path)] = deps - {_module_name(path)}
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: tuple[str, ...]) -> None:
        if state.get(module) == 2:
            return
        assert state.get(module) != 1, f"import circle: {' -> '.join((*path, module))}"
        state[module] = 1
        for dep in sorted(graph.get(module, ())):
            if not dep.endswith("__init__") and dep != package:
                visit(dep, (*path, module))
        state[module] = 2

    for module in sorted(graph):
        visit(module, ())


def _is_package_private_module(module: str, name: str, importer: Path) -> bool:
    """`from sandbox import _syscalls` inside sandbox/ (or its unit tests): a module private to
    its package, shared by that package's modules; not a private name of another module."""
    package = module.split(".")[0]
    if not (ROOT / Path(*module.split("."), f"{name}.py")).is_file():
        return False
    rel = importer.relative_to(ROOT).parts
    return rel[0] == package or rel[:3] == ("tests", "unit", package)


@pytest.mark.parametrize("package", ["engine", "sandbox", "netns", "tests", "bench"])
def test_no_module_imports_another_modules_private_names(package: str) -> None:
    offending = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for line, module, imported in import_lines(path):
            if room_of_module(module) is None:
                continue
            private = [
                n
                for n in imported
                if n.startswith("_") and not _is_package_private_module(module, n, path)
            ]
            if private:
                offending.append(f"{path.relative_to(ROOT)}:{line}: {module} {private}")
    assert not offending, "private names imported across modules:\n" + "\n".join(offending)
