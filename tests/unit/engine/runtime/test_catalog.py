"""Which runtimes a host offers, and how each starts (pure planning; fake discovery)."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime.catalog import (
    BOOTSTRAP_CANDIDATES,
    NODE_BOOTSTRAP,
    PYTHON_RUNTIME_DIR,
    HostFacts,
    gather_facts,
    node_major,
    plan_catalog,
    sandbox_visible,
    stage_exec_python,
)
from sandbox.spec import API_HTTP, API_MSGPACK

STAGED = Path("/state/runtimes/python-exec")


def facts(
    found: dict[str, str], versions: dict[str, str] | None = None, **interp: str
) -> HostFacts:
    return gather_facts(
        search_path=("/usr/bin",),
        interpreters=interp,
        which=lambda cmd, _path: found.get(cmd),
        node_version=lambda path: (versions or {}).get(path),
    )


def test_bare_host_offers_python311_and_custom_runtimes() -> None:
    catalog = plan_catalog(facts({}), exec_python_dir=STAGED)
    assert catalog.names() == ("provided", "provided.al2", "provided.al2023", "python3.11")
    native = catalog.get("python3.11")
    assert native.entrypoint == ()
    assert native.runtime_dir == PYTHON_RUNTIME_DIR
    custom = catalog.get("provided.al2023")
    assert custom.entrypoint == BOOTSTRAP_CANDIDATES
    assert custom.api == API_HTTP
    assert custom.env["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert "AWS_EXECUTION_ENV" not in custom.env  # Lambda sets none for custom runtimes


def test_node_is_named_by_its_major_version() -> None:
    found = facts({"node": "/usr/bin/node"}, {"/usr/bin/node": "v20.20.2"})
    catalog = plan_catalog(found, exec_python_dir=STAGED)
    node = catalog.get("nodejs20.x")
    assert node.entrypoint == ("/usr/bin/node",)
    assert node.args == (NODE_BOOTSTRAP,)
    assert node.api == API_MSGPACK
    assert node.env["AWS_EXECUTION_ENV"] == "AWS_Lambda_nodejs20.x"
    assert "/opt/nodejs/node20/node_modules" in node.env["NODE_PATH"]
    reason = catalog.unsupported_reason("nodejs22.x")
    assert reason is not None
    assert "Node.js 22" in reason and "v20.20.2 at /usr/bin/node" in reason


def test_other_pythons_are_execd_when_the_host_has_them() -> None:
    found = facts({"python3.12": "/usr/bin/python3.12"})
    catalog = plan_catalog(found, exec_python_dir=STAGED)
    kind = catalog.get("python3.12")
    assert kind.entrypoint == ("/usr/bin/python3.12",)
    assert kind.args == ("-I", "-S", "/var/runtime/bootstrap.py")
    assert kind.runtime_dir == STAGED
    missing = catalog.unsupported_reason("python3.13")
    assert missing is not None and "python3.13 interpreter" in missing


def test_configured_interpreters_win_and_must_be_visible_to_sandboxes() -> None:
    found = facts(
        {},
        {"/usr/local/bin/node22": "v22.1.0"},
        **{"python3.12": "/root/.pyenv/bin/python3.12", "nodejs22.x": "/usr/local/bin/node22"},
    )
    catalog = plan_catalog(found, exec_python_dir=STAGED)
    assert "nodejs22.x" in catalog.names()
    reason = catalog.unsupported_reason("python3.12")
    assert reason is not None and "outside the directories a sandbox sees" in reason


@pytest.mark.parametrize(
    ("name", "needle"),
    [("python3.8", "3.10 or newer"), ("java21", "provided.al2023"), ("ruby3.3", "custom runtime")],
)
def test_unsupported_reasons_name_what_is_missing(name: str, needle: str) -> None:
    reason = plan_catalog(facts({}), exec_python_dir=STAGED).unsupported_reason(name)
    assert reason is not None and needle in reason
    assert "Supported runtimes: provided" in reason


def test_node_versions() -> None:
    assert node_major("v20.20.2\n") == 20
    assert node_major("v22.0.0-nightly") == 22
    assert node_major("garbage") is None


def test_sandbox_visibility() -> None:
    assert sandbox_visible("/usr/bin/env")
    assert not sandbox_visible("/root")


def test_staged_exec_python_runtime(tmp_path: Path) -> None:
    staged = stage_exec_python(tmp_path / "py")
    assert (staged / "bootstrap.py").read_text().startswith("import sys")
    assert (staged / "lib/sandbox/protocol.py").is_file()
    assert (staged / "lib/sandbox/runtimes/python/bootstrap.py").is_file()
    assert (staged / "lib/msgpack/fallback.py").is_file()
    assert not list(staged.rglob("*.so"))  # pure Python: any interpreter can load it
    assert stage_exec_python(tmp_path / "py") == staged  # rebuilt in place


def test_the_staged_runtime_imports_with_nothing_but_itself(tmp_path: Path) -> None:
    # An exec'd interpreter finds only the staged lib: every module the runtime imports (its
    # JSON logging included) must be there.
    import subprocess
    import sys

    lib = stage_exec_python(tmp_path / "py") / "lib"
    code = (
        f"import sys; sys.path[:0] = [{str(lib)!r}]; "
        "import sandbox.runtimes.python.bootstrap as b; print(b.configure_logging.__module__); "
        "import sandbox.runtimes.python.snapstart as s; "
        "print(s.__name__, b.snapshot_restore_py.register_after_restore.__module__)"
    )
    out = subprocess.run(
        [sys.executable, "-I", "-S", "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.split() == [
        "sandbox.runtimes.python.json_logging",
        "sandbox.runtimes.python.snapstart",
        "sandbox.runtimes.python.snapshot_restore_py",
    ]


def test_staging_copies_each_runtime_dir_once_and_points_the_catalog_at_the_copies(
    tmp_path: Path,
) -> None:
    from engine.runtime.catalog import stage_runtime_dirs

    staged_exec = tmp_path / "runtimes" / "python-exec"
    staged_exec.mkdir(parents=True)
    catalog = plan_catalog(
        HostFacts(nodes={"nodejs20.x": ("/usr/bin/node", 20)}), exec_python_dir=staged_exec
    )
    staged = stage_runtime_dirs(catalog, tmp_path / "runtimes")
    python = staged.get("python3.11").runtime_dir
    assert python == tmp_path / "runtimes" / PYTHON_RUNTIME_DIR.name
    assert (python / "bootstrap.py").read_bytes() == (
        PYTHON_RUNTIME_DIR / "bootstrap.py"
    ).read_bytes()
    assert (staged.get("nodejs20.x").runtime_dir / "bootstrap.js").is_file()
    assert staged.get("provided.al2023").runtime_dir == staged.get("provided").runtime_dir
    assert all(k.runtime_dir.is_relative_to(tmp_path) for k in staged.kinds.values())
    assert staged.missing == catalog.missing
    # Staging again (a restart) replaces the copies.
    assert stage_runtime_dirs(catalog, tmp_path / "runtimes").kinds == staged.kinds
