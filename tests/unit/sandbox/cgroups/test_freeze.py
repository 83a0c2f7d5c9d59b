"""Freezing a group without waiting (idle environments): v1 freezer.state, v2 cgroup.freeze."""

from __future__ import annotations

import dataclasses
import errno
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.errors import SandboxSetupError
from tests.unit.sandbox.cgroups.test_cgroups import (
    LIMITS,
    PARENT,
    FakeKernel,
    comounted,
    hybrid,
    pure_v2,
    started,
    text,
)


def test_v1_freeze_and_thaw_write_freezer_state_and_never_wait(tmp_path: Path) -> None:
    kernel = comounted(tmp_path)  # v1 only: no unified hierarchy
    cg = started(kernel, [101])
    state = tmp_path / "cgroup/freezer" / PARENT / "fn1/freezer.state"
    assert cg.can_freeze
    assert cg.set_frozen("fn1", True)
    assert text(state) == "FROZEN"
    state.write_text("FREEZING\n")  # the kernel has not stopped every task yet
    assert cg.freezer_state("fn1") == "FREEZING"
    assert cg.set_frozen("fn1", False)  # a thaw works from FREEZING too
    assert cg.freezer_state("fn1") == "THAWED"
    assert kernel.sleeps == []  # no polling: it may run on an event loop
    assert kernel.killed == []


def test_hybrid_freezes_in_the_unified_tree_not_the_v1_freezer(tmp_path: Path) -> None:
    # cgroup.freeze leaves a task killable; v1 FROZEN does not (a crashed daemon's sandboxes).
    kernel = hybrid(tmp_path)
    cg = started(kernel, [101])
    unified = tmp_path / "cgroup/unified" / PARENT / "fn1"
    assert str(unified / "cgroup.procs") in cg.procs_files("fn1")  # sandboxes join it
    assert cg.set_frozen("fn1", True)
    assert text(unified / "cgroup.freeze") == "1"
    assert text(tmp_path / "cgroup/freezer" / PARENT / "fn1/freezer.state") == "THAWED"
    assert cg.set_frozen("fn1", False)
    assert text(unified / "cgroup.freeze") == "0"
    cg.kill_all("fn1")
    assert kernel.killed == [(101, signal.SIGKILL, "FROZEN")]  # v1 kill rounds, as before
    cg.destroy("fn1")
    assert not unified.exists()
    cg.remove_parent()
    assert not unified.parent.exists()


def test_hybrid_without_a_writable_unified_tree_uses_the_v1_freezer(tmp_path: Path) -> None:
    kernel = hybrid(tmp_path)
    real_mkdir = kernel.mkdir

    def mkdir(path: str) -> None:
        if "/unified/" in path:
            raise OSError(errno.EROFS, "Read-only file system", path)
        real_mkdir(path)

    kernel.ops = dataclasses.replace(kernel.ops, mkdir=mkdir)
    cg = started(kernel, [101])
    assert cg.set_frozen("fn1", True)
    assert text(tmp_path / "cgroup/freezer" / PARENT / "fn1/freezer.state") == "FROZEN"
    assert "freeze" not in cg.describe()


def test_v2_freeze_reports_freezing_until_the_kernel_says_frozen(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    cg = started(kernel, [101])
    group = tmp_path / "cgroup/system.slice/lambdalet.service" / PARENT / "fn1"
    assert cg.set_frozen("fn1", True)
    assert text(group / "cgroup.freeze") == "1"
    assert cg.freezer_state("fn1") == "FREEZING"
    (group / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    assert cg.freezer_state("fn1") == "FROZEN"
    assert cg.set_frozen("fn1", False)
    assert text(group / "cgroup.freeze") == "0"
    assert cg.freezer_state("fn1") == "THAWED"
    assert kernel.sleeps == []


def test_without_any_freezer_nothing_is_frozen(tmp_path: Path) -> None:
    kernel = comounted(tmp_path, freezer=False)
    cg = started(kernel, [101])
    assert not cg.can_freeze
    assert not cg.set_frozen("fn1", True)
    assert cg.freezer_state("fn1") is None


def test_v2_kernel_without_cgroup_freeze(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    kernel.lacking = {"cgroup.freeze"}
    cg = started(kernel, [101])
    assert not cg.set_frozen("fn1", True)
    assert cg.freezer_state("fn1") is None


def test_kill_all_of_a_frozen_group_kills_and_leaves_it_thawed(tmp_path: Path) -> None:
    kernel = comounted(tmp_path)
    cg = started(kernel, [101, 102])
    cg.set_frozen("fn1", True)
    cg.kill_all("fn1")
    assert cg.pids("fn1") == set()
    assert cg.freezer_state("fn1") == "THAWED"


@pytest.mark.parametrize("factory", [hybrid, pure_v2])
def test_freezing_a_missing_group_is_a_setup_error(
    tmp_path: Path, factory: Callable[[Path], FakeKernel]
) -> None:
    cg = factory(tmp_path).detect()
    cg.prepare()
    cg.create("other", LIMITS)
    with pytest.raises(SandboxSetupError):
        cg.freezer_state("gone")
    with pytest.raises(ValueError, match="single path component"):
        cg.set_frozen("../escape", True)
