"""The cgroup v1 driver: one hierarchy per controller, files via cgroupspy over raw os I/O."""

from __future__ import annotations

import os
from typing import Any

from cgroupspy.controllers import CpuAcctController, CpuController, MemoryController
from cgroupspy.nodes import Node

from sandbox.cgroups.driver import Driver
from sandbox.cgroups.files import read, setup_step, write, write_if_present
from sandbox.limits import CgroupLimits


class _RawIO:
    """cgroupspy's control-file descriptors over unbuffered os-level I/O.

    Stock cgroupspy opens each file in text mode: ~25 us a write on this host against ~11 us
    here, and a ~1 ms p95 for create(), which is on the cold-start path (measured).
    """

    node: Any

    def get_property(self, filename: bytes) -> str:
        return read(os.path.join(self.node.full_path, filename)).strip()

    def set_property(self, filename: bytes, value: object) -> None:
        write(os.path.join(self.node.full_path, filename), str(value))


# cgroupspy is untyped, so its classes are Any to mypy.
class _MemoryFiles(_RawIO, MemoryController):  # type: ignore[misc]
    pass


class _CpuFiles(_RawIO, CpuController):  # type: ignore[misc]
    pass


class _CpuAcctFiles(_RawIO, CpuAcctController):  # type: ignore[misc]
    pass


def _node(path: str) -> Any:
    # A bare Node for exactly this path: a trees.Tree walk costs ~2 ms here, this ~1 us.
    return Node(os.fsencode(path))


class V1Driver(Driver):
    """``<hierarchy mount>/<parent>/<name>`` per v1 hierarchy, at its root (Docker cgroupfs).

    memory, cpu and cpuacct files go through cgroupspy controllers; pids and freezer, which
    cgroupspy lacks, and core files (cgroup.procs) are plain files.
    """

    kind = "v1"

    def write_limits(self, name: str, limits: CgroupLimits) -> None:
        if self.owns("memory"):
            path = self._dir("memory", name)
            memory = _MemoryFiles(_node(path))
            with setup_step(f"write memory limits of {name}", path):
                memory.limit_in_bytes = limits.memory_max_bytes
                # memory+swap must stay >= limit_in_bytes, hence after it. Both files exist
                # only with swap accounting; without it, swappiness 0 keeps the group off swap.
                try:
                    memory.memsw_limit_in_bytes = limits.memory_max_bytes
                except FileNotFoundError:
                    pass
                try:
                    memory.swappiness = 0
                except FileNotFoundError:
                    pass
        if self.owns("cpu"):
            path = self._dir("cpu", name)
            cpu = _CpuFiles(_node(path))
            with setup_step(f"write cpu limits of {name}", path):
                cpu.cfs_period_us = limits.cpu_period_us  # the quota is checked against it
                cpu.cfs_quota_us = limits.cpu_quota_us
                cpu.shares = limits.cpu_shares
        if self.owns("pids"):
            path = f"{self._dir('pids', name)}/pids.max"
            with setup_step(f"write pids limit of {name}", path):
                write(path, str(limits.pids_max))

    def set_cpu_quota(self, name: str, quota_us: int, period_us: int) -> None:
        path = self._dir("cpu", name)
        with setup_step(f"write cpu quota of {name}", path):
            write(f"{path}/cpu.cfs_quota_us", str(quota_us))

    def memory_peak_file(self, name: str) -> str:
        return f"{self._dir('memory', name)}/memory.max_usage_in_bytes"

    def memory_peak_bytes(self, name: str) -> int:
        path = self._dir("memory", name)
        with setup_step("read memory.max_usage_in_bytes", path):
            return int(_MemoryFiles(_node(path)).max_usage_in_bytes or 0)

    def memory_usage_bytes(self, name: str) -> int:
        path = f"{self._dir('memory', name)}/memory.usage_in_bytes"
        with setup_step("read memory.usage_in_bytes", path):
            return int(read(path))

    def oom_kill_count(self, name: str) -> int:
        # "oom_kill N" exists since Linux 4.13; without it there is no count, and memory.failcnt
        # is no proxy: it counts every time usage hit the limit and was reclaimed, not kills.
        path = self._dir("memory", name)
        with setup_step("read memory.oom_control", path):
            oom_control = _MemoryFiles(_node(path)).oom_control
        return int(oom_control.get("oom_kill", 0)) if isinstance(oom_control, dict) else 0

    def cpu_usage_ns(self, name: str) -> int:
        path = self._dir("cpuacct", name)
        with setup_step("read cpuacct.usage", path):
            return int(_CpuAcctFiles(_node(path)).usage or 0)

    def request_freeze(self, name: str, frozen: bool) -> bool:
        # The write returns once every task has been asked to stop (~80 us with 5 threads,
        # measured); the state reads FREEZING until the last one has, FROZEN after.
        if not self.owns("freezer"):
            return False
        path = f"{self._dir('freezer', name)}/freezer.state"
        want = "FROZEN" if frozen else "THAWED"
        with setup_step(f"write {want} to the freezer", path):
            return write_if_present(path, want)

    def freezer_state(self, name: str) -> str | None:
        if not self.owns("freezer"):
            return None
        path = f"{self._dir('freezer', name)}/freezer.state"
        with setup_step("read the freezer state", path):
            return read(path).strip()

    def freeze(self, name: str, frozen: bool) -> bool:
        if not self.request_freeze(name, frozen):
            return False
        path = f"{self._dir('freezer', name)}/freezer.state"
        with setup_step("read the freezer state", path):
            # FREEZING -> FROZEN is asynchronous; a straggler is caught by the next round.
            for _ in range(20 if frozen else 0):
                if read(path).strip() == "FROZEN":
                    break
                self._ops.sleep(0.0005)
        return True
