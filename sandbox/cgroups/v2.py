"""The cgroup v2 driver and where it lives: the daemon's delegated subtree of the unified
hierarchy, found from mountinfo and /proc/self/cgroup.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from sandbox.cgroups.driver import Driver
from sandbox.cgroups.files import (
    HostOps,
    parse_flat_keyed,
    read,
    read_pids,
    setup_error,
    setup_step,
    write,
    write_if_present,
)
from sandbox.cgroups.mounts import CgroupMounts, parse_own_cgroup
from sandbox.errors import SandboxSetupError
from sandbox.limits import CgroupLimits

log = logging.getLogger(__name__)

# v2: the leaf the daemon moves itself into so that its own cgroup may get subtree_control
# (the "no internal processes" rule); detect() run from inside that leaf strips it again.
SUPERVISOR_LEAF = "supervisor"


def delegated_path(
    mounts: CgroupMounts, mountinfo: Path, proc_self_cgroup: Path, wanted: list[str]
) -> str:
    """``<unified mount>/<own cgroup>``, own cgroup taken from the 0:: line, leaf stripped."""
    if mounts.v2 is None:
        raise SandboxSetupError(
            f"no cgroup hierarchy carries {', '.join(wanted)}",
            str(mountinfo),
            "mount cgroup2 (or the v1 hierarchies) and enable the controllers in the kernel",
        )
    with setup_step("read the unified hierarchy", str(mounts.v2)):
        available = set(read(f"{mounts.v2}/cgroup.controllers").split())
        own = parse_own_cgroup(proc_self_cgroup.read_text())
    missing = [c for c in wanted if c not in available]
    if missing:
        raise SandboxSetupError(
            f"controllers {', '.join(missing)} are neither v1-mounted nor in the unified hierarchy",
            f"{mounts.v2}/cgroup.controllers",
            "they may be bound to an unmounted v1 hierarchy; check the kernel and mounts",
        )
    if own is None:
        raise SandboxSetupError("no 0:: line in /proc/self/cgroup", str(proc_self_cgroup))
    root = mounts.v2_root.rstrip("/")  # a bind mount shows only a subtree of the hierarchy
    if root and (own == root or own.startswith(root + "/")):
        own = own[len(root) :]
    parts = [p for p in own.split("/") if p]
    if parts and parts[-1] == SUPERVISOR_LEAF:
        parts.pop()
    return "/".join([str(mounts.v2).rstrip("/"), *parts])


class V2Driver(Driver):
    """``<unified mount>/<own cgroup>/<parent>/<name>``: one dir, in the delegated subtree."""

    kind = "v2"

    def __init__(
        self, *, delegated: str, at_root: bool, parent_of: dict[str, str], ops: HostOps
    ) -> None:
        super().__init__(parent_of=parent_of, ops=ops)
        self._delegated = delegated
        self._at_root = at_root  # the real root cgroup may hold processes and subtree_control
        self._controllers = list(parent_of)

    def prepare(self) -> None:
        own = self._delegated
        with setup_step("read the delegated cgroup", own):
            available = set(read(f"{own}/cgroup.controllers").split())
            enabled = set(read(f"{own}/cgroup.subtree_control").split())
            in_own = self._ops.getpid() in read_pids(f"{own}/cgroup.procs")
        missing = [c for c in self._controllers if c not in available]
        if missing:
            raise SandboxSetupError(
                f"cgroup v2 controllers {', '.join(missing)} are not delegated to the daemon",
                own,
                "run it as a systemd service with Delegate=yes (or as root in a cgroup whose "
                "parent enables them in cgroup.subtree_control)",
            )
        enable = " ".join(f"+{c}" for c in self._controllers)
        if not set(self._controllers) <= enabled:
            if in_own and not self._at_root:
                self._move_self_to_leaf()
            busy = f"other processes live in {own}; the daemon must be alone in its cgroup"
            with setup_step("enable controllers in cgroup.subtree_control", own, busy):
                write(f"{own}/cgroup.subtree_control", enable)
        super().prepare()
        parent = self._parents[0]
        with setup_step("enable controllers in cgroup.subtree_control", parent):
            write(f"{parent}/cgroup.subtree_control", enable)

    def _move_self_to_leaf(self) -> None:
        leaf = f"{self._delegated}/{SUPERVISOR_LEAF}"
        pid = self._ops.getpid()
        with setup_step("move the daemon into its leaf cgroup", leaf):
            try:
                self._ops.mkdir(leaf)
            except FileExistsError:
                pass
            write(f"{leaf}/cgroup.procs", str(pid))
        log.info("moved pid %d into %s (no internal processes rule)", pid, leaf)

    def write_limits(self, name: str, limits: CgroupLimits) -> None:
        group = self._dirs(name)[0]
        writes: list[tuple[str, str]] = []
        if self.owns("memory"):
            mem = str(limits.memory_max_bytes)
            writes += [("memory.max", mem), ("memory.swap.max", "0"), ("memory.oom.group", "1")]
        if self.owns("cpu"):
            writes.append(("cpu.max", f"{limits.cpu_quota_us} {limits.cpu_period_us}"))
            writes.append(("cpu.weight", str(limits.cpu_weight)))
        if self.owns("pids"):
            writes.append(("pids.max", str(limits.pids_max)))
        for filename, value in writes:
            path = f"{group}/{filename}"
            with setup_step(f"write limits of {name}", path):
                try:
                    write(path, value)
                except FileNotFoundError:
                    if filename != "memory.swap.max":  # absent without swap accounting
                        raise

    def set_cpu_quota(self, name: str, quota_us: int, period_us: int) -> None:
        path = f"{self._dirs(name)[0]}/cpu.max"
        with setup_step(f"write cpu quota of {name}", path):
            write(path, f"{quota_us} {period_us}")

    def _read_file(self, name: str, filename: str) -> str:
        path = f"{self._dirs(name)[0]}/{filename}"
        with setup_step(f"read {filename}", path):
            return read(path)

    def memory_peak_file(self, name: str) -> str:
        group = self._dirs(name)[0]
        peak = f"{group}/memory.peak"
        return peak if os.path.exists(peak) else f"{group}/memory.current"

    def memory_peak_bytes(self, name: str) -> int:
        # memory.peak exists since Linux 5.19; memory.current is a lower bound before that.
        path = f"{self._dirs(name)[0]}/memory.peak"
        try:
            return int(read(path))
        except FileNotFoundError:
            return int(self._read_file(name, "memory.current"))
        except OSError as err:
            raise setup_error("read memory.peak", path, err) from err

    def memory_usage_bytes(self, name: str) -> int:
        return int(self._read_file(name, "memory.current"))

    def oom_kill_count(self, name: str) -> int:
        return parse_flat_keyed(self._read_file(name, "memory.events")).get("oom_kill", 0)

    def cpu_usage_ns(self, name: str) -> int:
        return parse_flat_keyed(self._read_file(name, "cpu.stat")).get("usage_usec", 0) * 1000

    def populated(self, name: str) -> bool:
        try:
            events = parse_flat_keyed(read(f"{self._dirs(name)[0]}/cgroup.events"))
        except FileNotFoundError:
            return False
        return events.get("populated", 0) == 1

    def kill_all_at_once(self, name: str) -> bool:
        # cgroup.kill (Linux 5.14) SIGKILLs every process, forks in flight included.
        path = f"{self._dirs(name)[0]}/cgroup.kill"
        with setup_step("write cgroup.kill", path):
            return write_if_present(path, "1")

    def freeze(self, name: str, frozen: bool) -> bool:
        return self.request_freeze(name, frozen)

    def request_freeze(self, name: str, frozen: bool) -> bool:
        # Asynchronous: cgroup.events says "frozen 1" once every task has stopped.
        path = f"{self._dirs(name)[0]}/cgroup.freeze"  # Linux 5.2
        with setup_step("write cgroup.freeze", path):
            return write_if_present(path, "1" if frozen else "0")

    def freezer_state(self, name: str) -> str | None:
        group = self._dirs(name)[0]
        with setup_step("read the freezer state", group):
            # cgroup.events is in every group (a missing group fails); cgroup.freeze since 5.2.
            done = parse_flat_keyed(read(f"{group}/cgroup.events")).get("frozen", 0) == 1
            try:
                asked = read(f"{group}/cgroup.freeze").strip() == "1"
            except FileNotFoundError:
                return None
        return ("FROZEN" if done else "FREEZING") if asked else "THAWED"


class V2FreezeDriver(V2Driver):
    """A hybrid host's controller-less group in the unified hierarchy, used to freeze only.

    Preferred over the v1 freezer: a task frozen by ``cgroup.freeze`` still dies of SIGKILL
    (one frozen by v1 ``freezer.state`` does not until thawed, measured on Linux 6.18), so a
    sandbox frozen when the daemon is SIGKILLed still ends with the spawner or by PDEATHSIG.
    Killing stays with the v1 kill rounds, as without it.
    """

    def __init__(self, *, delegated: str, parent: str, ops: HostOps) -> None:
        super().__init__(delegated=delegated, at_root=False, parent_of={"freeze": parent}, ops=ops)

    def prepare(self) -> None:
        Driver.prepare(self)  # no controllers to enable

    def write_limits(self, name: str, limits: CgroupLimits) -> None:
        pass

    def kill_all_at_once(self, name: str) -> bool:
        return False
