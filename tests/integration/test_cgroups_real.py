"""Cgroups on the real kernel: create, join, read, kill_all, destroy, remove the parent."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest

from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.limits import MIB, limits_for

pytestmark = pytest.mark.privileged  # tests/conftest.py skips it unless root


def test_real_cgroup_lifecycle() -> None:
    try:
        cg = Cgroups.detect(parent_name=f"lambdalet-test-{os.getpid()}")
        cg.prepare()
    except SandboxError as exc:
        pytest.skip(f"no usable cgroups here: {exc}")
    parents = {Path(where.split(":", 1)[1]) for where in cg.describe().values()}
    try:
        cg.create("fn1", limits_for(memory_mb=128, host_cpus=os.cpu_count() or 1))
        memory_dir = Path(cg.describe()["memory"].split(":", 1)[1]) / "fn1"
        limit_file = (
            "memory.limit_in_bytes" if cg.describe()["memory"][:2] == "v1" else "memory.max"
        )
        assert int((memory_dir / limit_file).read_text()) == 128 * MIB
        child = subprocess.Popen(["sleep", "60"])
        try:
            cg.join("fn1", child.pid)
            assert cg.pids("fn1") == {child.pid}
            assert cg.populated("fn1")
            assert cg.memory_peak_bytes("fn1") >= 0
            assert cg.cpu_usage_ns("fn1") >= 0
            assert cg.oom_kill_count("fn1") == 0
            cg.kill_all("fn1")
            assert child.wait(timeout=5) == -signal.SIGKILL
            assert not cg.populated("fn1")
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
        cg.destroy("fn1")
        assert cg.children() == []
    finally:
        for name in cg.children():
            cg.kill_all(name)
            cg.destroy(name)
        cg.remove_parent()
    assert not any(parent.exists() for parent in parents)
