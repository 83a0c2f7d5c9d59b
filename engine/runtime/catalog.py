"""Which Lambda runtimes this host can run, and how each one starts inside a sandbox.

* ``python3.11``: the fast path. The runtime is pre-imported in the spawner and forked; it
  speaks the msgpack protocol in process.
* ``nodejs<N>.x``: the host's ``node`` (major version N), exec'd with lambdalet's Node
  runtime (``sandbox/runtimes/nodejs/bootstrap.js``), msgpack on fd 3.
* other ``python3.X``: the host's ``python3.X`` interpreter, exec'd with the same Python
  runtime as python3.11 (staged with a pure-Python msgpack), msgpack on fd 3.
* ``provided.al2023`` / ``provided.al2`` / ``provided``: the function's own executable
  ``bootstrap`` (``/var/task/bootstrap``, else ``/opt/bootstrap``), speaking AWS's HTTP
  Runtime API at ``127.0.0.1:9001``.

Interpreters must live where sandboxes can see them (the host's /usr, /bin, /lib...), and
are found on `search_path` or named in ``[runtimes.interpreters]``. `plan_catalog()` is pure;
`discover()` does the looking.
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

import sandbox.runtimes.nodejs as nodejs_runtime
import sandbox.runtimes.provided as provided_runtime
import sandbox.runtimes.python as python_runtime
from sandbox.rootfs import HOST_SYSTEM_DIRS
from sandbox.spec import API_HTTP, API_MSGPACK, RUNTIME_API_HOST, RUNTIME_API_PORT, RUNTIME_DIR

NATIVE_PYTHON: Final = "python3.11"
PROVIDED: Final = ("provided.al2023", "provided.al2", "provided")
BOOTSTRAP_CANDIDATES: Final = ("/var/task/bootstrap", "/opt/bootstrap")
DEFAULT_SEARCH_PATH: Final = ("/usr/local/bin", "/usr/bin", "/bin")
# Python versions AWS lists as runtimes that lambdalet's Python runtime can run on (3.10+;
# python3.11 is the native one).
AWS_PYTHONS: Final = ("3.10", "3.12", "3.13", "3.14", "3.15")
TOO_OLD_PYTHONS: Final = ("python2.7", "python3.6", "python3.7", "python3.8", "python3.9")
_NODE_NAME = re.compile(r"nodejs(\d+)\.x")
_PYTHON_NAME = re.compile(r"python(3\.\d+)")

PYTHON_RUNTIME_DIR: Final = Path(python_runtime.__file__).parent
NODE_RUNTIME_DIR: Final = Path(nodejs_runtime.__file__).parent
PROVIDED_RUNTIME_DIR: Final = Path(provided_runtime.__file__).parent
NODE_BOOTSTRAP: Final = f"{RUNTIME_DIR}/bootstrap.js"
EXEC_PYTHON_BOOTSTRAP: Final = f"{RUNTIME_DIR}/bootstrap.py"
_NODE_PATH: Final = (
    "/opt/nodejs/node{major}/node_modules:/opt/nodejs/node_modules:"
    "/var/runtime/node_modules:/var/runtime:/var/task"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeKind:
    """How one runtime name starts: what is at /var/runtime, what is exec'd, which API."""

    name: str
    runtime_dir: Path  # host directory attached read-only at /var/runtime
    entrypoint: tuple[str, ...] = ()  # () = the in-process Python runtime
    args: tuple[str, ...] = ()
    api: str = API_MSGPACK
    env: Mapping[str, str] = field(default_factory=dict)  # runtime-specific variables


@dataclass(frozen=True, slots=True)
class RuntimeCatalog:
    kinds: Mapping[str, RuntimeKind]
    missing: Mapping[str, str]  # runtime name -> why this host cannot run it

    def get(self, name: str) -> RuntimeKind:
        return self.kinds[name]

    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.kinds))

    def unsupported_reason(self, name: str) -> str | None:
        """None if `name` runs here; otherwise what is missing, for the caller's error."""
        if name in self.kinds:
            return None
        supported = ", ".join(self.names())
        why = self.missing.get(name)
        if why is None:
            why = (
                f"lambdalet has no {name} runtime; package it as a custom runtime"
                " (provided.al2023 with an executable bootstrap)"
            )
        return f"The runtime parameter of {name} is not supported on this host: {why}. " + (
            f"Supported runtimes: {supported}"
        )


def sandbox_visible(path: str) -> bool:
    """Sandboxes see the host's system directories only (read-only)."""
    real = os.path.realpath(path)
    return any(real == d or real.startswith(d + "/") for d in HOST_SYSTEM_DIRS)


def provided_kind(name: str) -> RuntimeKind:
    return RuntimeKind(
        name=name,
        runtime_dir=PROVIDED_RUNTIME_DIR,
        entrypoint=BOOTSTRAP_CANDIDATES,
        api=API_HTTP,
        env={"AWS_LAMBDA_RUNTIME_API": f"{RUNTIME_API_HOST}:{RUNTIME_API_PORT}"},
    )


def node_kind(name: str, node: str, major: int) -> RuntimeKind:
    return RuntimeKind(
        name=name,
        runtime_dir=NODE_RUNTIME_DIR,
        entrypoint=(os.path.realpath(node),),
        args=(NODE_BOOTSTRAP,),
        env={
            "AWS_EXECUTION_ENV": f"AWS_Lambda_{name}",
            "NODE_PATH": _NODE_PATH.format(major=major),
        },
    )


def exec_python_kind(name: str, interpreter: str, staged_dir: Path) -> RuntimeKind:
    return RuntimeKind(
        name=name,
        runtime_dir=staged_dir,
        entrypoint=(os.path.realpath(interpreter),),
        args=("-I", "-S", EXEC_PYTHON_BOOTSTRAP),
        env={"AWS_EXECUTION_ENV": f"AWS_Lambda_{name}"},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class HostFacts:
    """What discovery found: interpreters by runtime name, and node's major version."""

    nodes: Mapping[str, tuple[str, int]] = field(default_factory=dict)  # name -> (path, major)
    pythons: Mapping[str, str] = field(default_factory=dict)  # "python3.12" -> path
    not_visible: Mapping[str, str] = field(default_factory=dict)  # name -> path found
    node_seen: str | None = None  # "v20.20.2 at /usr/bin/node", for error messages
    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH


def plan_catalog(facts: HostFacts, *, exec_python_dir: Path | None) -> RuntimeCatalog:
    """The catalog for what the host has. `exec_python_dir`: the staged runtime for
    exec'd pythons (None: they are not offered)."""
    kinds: dict[str, RuntimeKind] = {
        NATIVE_PYTHON: RuntimeKind(
            name=NATIVE_PYTHON,
            runtime_dir=PYTHON_RUNTIME_DIR,
            env={"AWS_EXECUTION_ENV": f"AWS_Lambda_{NATIVE_PYTHON}"},
        )
    }
    missing: dict[str, str] = {}
    for name in PROVIDED:
        kinds[name] = provided_kind(name)
    for name, (path, major) in facts.nodes.items():
        kinds[name] = node_kind(name, path, major)
    for name, path in facts.pythons.items():
        if exec_python_dir is not None:
            kinds[name] = exec_python_kind(name, path, exec_python_dir)
    where = ":".join(facts.search_path)
    for version in AWS_PYTHONS:
        name = f"python{version}"
        if name not in kinds:
            missing[name] = (
                f"it needs a python{version} interpreter on the host (looked in {where})"
            )
    for major in range(10, 30, 2):
        name = f"nodejs{major}.x"
        if name not in kinds:
            seen = f"; the host has node {facts.node_seen}" if facts.node_seen else ""
            missing[name] = f"it needs Node.js {major} on the host (looked in {where}){seen}"
    for name in TOO_OLD_PYTHONS:
        missing[name] = "lambdalet's Python runtime needs Python 3.10 or newer"
    for name, path in facts.not_visible.items():
        missing[name] = (
            f"its interpreter {path} is outside the directories a sandbox sees"
            f" ({', '.join(HOST_SYSTEM_DIRS)})"
        )
    return RuntimeCatalog(kinds=kinds, missing=missing)


def node_major(version_text: str) -> int | None:
    m = re.fullmatch(r"v(\d+)\.\d+\.\d+\S*", version_text.strip())
    return int(m.group(1)) if m else None


def gather_facts(
    *,
    search_path: tuple[str, ...],
    interpreters: Mapping[str, str],
    which: Callable[[str, str], str | None],
    node_version: Callable[[str], str | None],
) -> HostFacts:
    """Look for node and pythonX.Y; `interpreters` (from the configuration) win."""
    nodes: dict[str, tuple[str, int]] = {}
    pythons: dict[str, str] = {}
    not_visible: dict[str, str] = {}
    node_seen: str | None = None
    path = os.pathsep.join(search_path)
    candidates: dict[str, str] = {}
    node = which("node", path)
    if node is not None:
        candidates["node"] = node
    for version in AWS_PYTHONS:
        found = which(f"python{version}", path)
        if found is not None:
            candidates[f"python{version}"] = found
    for name, interpreter in interpreters.items():
        candidates[name] = interpreter
    for name, interpreter in candidates.items():
        if _PYTHON_NAME.fullmatch(name):
            if sandbox_visible(interpreter):
                pythons[name] = interpreter
            else:
                not_visible[name] = interpreter
            continue
        text = node_version(interpreter)
        major = node_major(text) if text else None
        if major is None:
            continue
        node_seen = f"{text} at {interpreter}"
        runtime = name if _NODE_NAME.fullmatch(name) else f"nodejs{major}.x"
        if sandbox_visible(interpreter):
            nodes[runtime] = (interpreter, major)
        else:
            not_visible[runtime] = interpreter
    return HostFacts(
        nodes=nodes,
        pythons=pythons,
        not_visible=not_visible,
        node_seen=node_seen,
        search_path=search_path,
    )


def _node_version(node: str) -> str | None:
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def discover(
    *,
    search_path: tuple[str, ...] = DEFAULT_SEARCH_PATH,
    interpreters: Mapping[str, str] | None = None,
    exec_python_dir: Path | None = None,
) -> RuntimeCatalog:
    """What this host runs (blocking: runs ``node --version``; call it once at start-up)."""
    facts = gather_facts(
        search_path=search_path,
        interpreters=interpreters or {},
        which=lambda cmd, path: shutil.which(cmd, path=path),
        node_version=_node_version,
    )
    return plan_catalog(facts, exec_python_dir=exec_python_dir)


# What an exec'd Python needs at /var/runtime: the runtime (with its own modules: JSON logging,
# SnapStart and its hooks module), the protocol, and msgpack's pure-Python fallback (its C
# extension is built for the daemon's Python only).
_EXEC_PYTHON_MAIN: Final = """\
import sys
sys.path.insert(0, "/var/runtime/lib")
from sandbox.runtimes.python import bootstrap
bootstrap.main_exec()
"""


def stage_exec_python(target: Path) -> Path:
    """Lay out the runtime for exec'd pythons under `target` (rebuilt at every start)."""
    import msgpack

    import sandbox

    if target.exists():
        shutil.rmtree(target)
    lib = target / "lib"
    sandbox_src = Path(sandbox.__file__).parent
    for rel in (
        "__init__.py",
        "protocol.py",
        "runtimes/__init__.py",
        "runtimes/python/__init__.py",
        "runtimes/python/bootstrap.py",
        "runtimes/python/json_logging.py",
        "runtimes/python/snapshot_restore_py.py",
        "runtimes/python/snapstart.py",
    ):
        dest = lib / "sandbox" / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(sandbox_src / rel, dest)
    msgpack_src = Path(msgpack.__file__).parent
    (lib / "msgpack").mkdir(parents=True)
    for src in msgpack_src.glob("*.py"):
        shutil.copyfile(src, lib / "msgpack" / src.name)
    (target / "bootstrap.py").write_text(_EXEC_PYTHON_MAIN)
    for path in (target, *target.rglob("*")):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return target


def stage_runtime_dirs(catalog: RuntimeCatalog, target: Path) -> RuntimeCatalog:
    """Copy each runtime's /var/runtime directory under `target` (rebuilt at every start) and
    point the catalog at the copies: a sandbox's /proc/self/mountinfo names the directory a
    mount came from, and the state directory says less about the host than the install path.
    Directories already under `target` (the staged exec'd-python runtime) stay."""
    copies: dict[Path, Path] = {}
    kinds: dict[str, RuntimeKind] = {}
    for name, kind in catalog.kinds.items():
        source = kind.runtime_dir
        if source.is_relative_to(target):
            kinds[name] = kind
            continue
        if source not in copies:
            dest = target / source.name
            if dest.exists():
                shutil.rmtree(dest)
            shutil.copytree(source, dest, ignore=shutil.ignore_patterns("__pycache__"))
            for path in (dest, *dest.rglob("*")):
                os.chmod(path, 0o755 if path.is_dir() else 0o644)
            copies[source] = dest
        kinds[name] = dataclasses.replace(kind, runtime_dir=copies[source])
    return RuntimeCatalog(kinds=kinds, missing=catalog.missing)
