"""cgroup v2 delegation under the kernel's "no internal processes" rule, against a fake tree
(this dev host's kernel has v1 controllers only, so no real delegated v2 subtree exists here).

`Kernel` adds to `FakeKernel` the two rules a plain directory lacks: a pid written to a
cgroup.procs moves there (out of every other group), and a non-root group that has processes
cannot enable controllers in its cgroup.subtree_control, nor take processes once it has.
"""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

from sandbox.cgroups import facade, files, hierarchy_mode
from sandbox.cgroups import v2 as cgroups_v2
from sandbox.errors import SandboxSetupError
from tests.unit.sandbox.cgroups.test_cgroups import LIMITS, PARENT, SELF_PID, FakeKernel, pure_v2

SERVICE = "system.slice/lambdalet.service"
SANDBOX_PID = 4242


def pids(group: Path) -> list[int]:
    return [int(p) for p in (group / "cgroup.procs").read_text().split()]


class NoInternalProcesses:
    def __init__(self, kernel: FakeKernel) -> None:
        self.root = kernel.v2_mount

    def write(self, path: str, value: str) -> None:
        file = Path(path)
        group = file.parent
        if self.root not in file.parents:
            files.write(path, value)
            return
        is_root = group == self.root
        if file.name == "cgroup.procs":
            if not is_root and (group / "cgroup.subtree_control").read_text().strip():
                raise OSError(errno.EBUSY, "Device or resource busy", path)
            pid = int(value)
            for procs in self.root.rglob("cgroup.procs"):
                procs.write_text("".join(f"{p}\n" for p in pids(procs.parent) if p != pid))
            file.write_text(file.read_text() + f"{pid}\n")
        elif file.name == "cgroup.subtree_control" and value.startswith("+"):
            if not is_root and pids(group):
                raise OSError(errno.EBUSY, "Device or resource busy", path)
            file.write_text(value)
        else:
            files.write(path, value)


@pytest.fixture
def kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeKernel:
    fake = pure_v2(tmp_path, own="/" + SERVICE)
    rules = NoInternalProcesses(fake)
    monkeypatch.setattr(cgroups_v2, "write", rules.write)
    monkeypatch.setattr(facade, "write", rules.write)
    return fake


def test_the_daemon_moves_into_a_leaf_and_sandboxes_live_in_a_sibling_subtree(
    kernel: FakeKernel,
) -> None:
    service = kernel.v2_mount / SERVICE
    cgroups = kernel.detect()
    cgroups.prepare()
    cgroups.create("sb-1", LIMITS)
    cgroups.join("sb-1", SANDBOX_PID)
    assert pids(service) == []  # the delegated cgroup itself holds no process
    assert pids(service / "supervisor") == [SELF_PID]
    assert pids(service / PARENT / "sb-1") == [SANDBOX_PID]
    assert sorted(p.name for p in service.iterdir() if p.is_dir()) == [PARENT, "supervisor"]
    assert (service / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (service / PARENT / "cgroup.subtree_control").read_text() == "+memory +cpu +pids"
    assert (service / PARENT / "sb-1" / "memory.max").read_text() == str(128 * 1024 * 1024)
    assert cgroups.describe()["memory"] == f"v2:{service}/{PARENT}"


def test_without_the_move_the_kernel_refuses_the_controllers(
    kernel: FakeKernel, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cgroups_v2.V2Driver, "_move_self_to_leaf", lambda self: None)
    with pytest.raises(SandboxSetupError, match="must be alone in its cgroup"):
        kernel.detect().prepare()


def test_another_process_in_the_delegated_cgroup_is_explained(kernel: FakeKernel) -> None:
    service = kernel.v2_mount / SERVICE
    (service / "cgroup.procs").write_text(f"{SELF_PID}\n31337\n")  # e.g. an ExecStartPre left
    with pytest.raises(SandboxSetupError, match="must be alone in its cgroup"):
        kernel.detect().prepare()
    assert pids(service / "supervisor") == [SELF_PID]


def test_started_in_the_leaf_already_nothing_moves(kernel: FakeKernel) -> None:
    """systemd's DelegateSubgroup=supervisor starts the daemon in the leaf itself."""
    service = kernel.v2_mount / SERVICE
    (service / "supervisor").mkdir()
    (service / "supervisor" / "cgroup.procs").write_text(f"{SELF_PID}\n")
    (service / "supervisor" / "cgroup.subtree_control").write_text("")
    (service / "cgroup.procs").write_text("")
    kernel.set_own_cgroup(f"/{SERVICE}/supervisor")
    cgroups = kernel.detect()
    cgroups.prepare()
    cgroups.create("sb-1", LIMITS)
    assert pids(service / "supervisor") == [SELF_PID]
    assert (service / PARENT / "sb-1").is_dir()


def test_a_second_start_in_the_same_tree_is_idempotent(kernel: FakeKernel) -> None:
    kernel.detect().prepare()
    kernel.detect().prepare()  # from inside the leaf: the subtree is found, nothing moves
    service = kernel.v2_mount / SERVICE
    assert pids(service) == [] and pids(service / "supervisor") == [SELF_PID]


def test_the_hierarchy_mode_is_named_from_the_mount(tmp_path: Path) -> None:
    unified, hybrid, legacy = (tmp_path / n for n in ("unified", "hybrid", "legacy"))
    (unified).mkdir()
    (unified / "cgroup.controllers").write_text("cpu memory pids\n")
    (hybrid / "unified").mkdir(parents=True)
    (hybrid / "unified" / "cgroup.controllers").write_text("\n")
    (hybrid / "memory").mkdir()
    (legacy / "memory").mkdir(parents=True)
    assert hierarchy_mode(unified) == "unified"
    assert hierarchy_mode(hybrid) == "hybrid"
    assert hierarchy_mode(legacy) == "legacy"
    assert hierarchy_mode(Path("/sys/fs/cgroup")) in ("unified", "hybrid", "legacy")
