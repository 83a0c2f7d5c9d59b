"""Thin kernel adapter for sandbox cgroups: a v1 and a v2 driver, chosen per controller.

Every path (mountinfo, /proc/self/cgroup, the hierarchies) is a parameter, and the few
operations a plain directory cannot imitate (cgroup mkdir/rmdir, kill, sleep) are in ``HostOps``,
so the module runs unchanged against a fake tree. Cleanup: ``kill_all`` empties a group,
``destroy`` removes it from every hierarchy, ``children`` finds a crashed predecessor's groups,
``remove_parent`` removes the empty parent at daemon stop.
"""

from __future__ import annotations

import logging
import os
import re
import signal
from dataclasses import dataclass
from pathlib import Path

from sandbox.cgroup_drivers import (
    SUPERVISOR_LEAF,
    HostOps,
    _Driver,
    _read,
    _step,
    _V1Driver,
    _V2Driver,
    _write,
    parse_flat_keyed,
)
from sandbox.errors import SandboxSetupError
from sandbox.limits import CgroupLimits

# Public names that live in sandbox.cgroup_drivers stay importable from here.
__all__ = [
    "REQUIRED_CONTROLLERS",
    "SUPERVISOR_LEAF",
    "V1_CONTROLLERS",
    "CgroupMounts",
    "Cgroups",
    "HostOps",
    "parse_flat_keyed",
    "parse_mountinfo",
    "parse_own_cgroup",
]

log = logging.getLogger(__name__)

# Controllers a sandbox cannot do without, then v1-only helpers: cpuacct (CPU usage; v2 has it
# in the core cpu.stat) and freezer (kill_all; v2 has cgroup.kill / cgroup.freeze in the core).
REQUIRED_CONTROLLERS = ("memory", "cpu", "pids")
V1_CONTROLLERS = (*REQUIRED_CONTROLLERS, "cpuacct", "freezer")


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupMounts:
    """The cgroup mounts of /proc/self/mountinfo that matter to a sandbox."""

    v1: dict[str, Path]  # controller -> mount point of the v1 hierarchy carrying it
    v2: Path | None = None  # cgroup2 mount point
    v2_root: str = "/"  # what of the hierarchy the cgroup2 mount shows ("/" unless bind-mounted)


# --- pure parsing ------------------------------------------------------------------------------


def parse_mountinfo(text: str) -> CgroupMounts:
    """v1 hierarchies per controller and the cgroup2 mount; a mount of a hierarchy's root wins."""
    v1: dict[str, Path] = {}
    rooted: set[str] = set()
    v2: Path | None = None
    v2_root = "/"
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, mount = _unescape(fields[3]), Path(_unescape(fields[4]))
        if tail[0] == "cgroup2" and v2 is None:
            v2, v2_root = mount, root
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):  # super options name the controllers
                if option in V1_CONTROLLERS and option not in rooted:
                    v1.setdefault(option, mount)
                    if root == "/":
                        v1[option] = mount
                        rooted.add(option)
    return CgroupMounts(v1=v1, v2=v2, v2_root=v2_root)


def parse_own_cgroup(text: str) -> str | None:
    """The unified-hierarchy path on the ``0::`` line of /proc/<pid>/cgroup, if any."""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _check_name(name: str, what: str = "cgroup name") -> None:
    if not name or name in {".", ".."} or any(c in name for c in "/\0\n"):
        raise ValueError(f"{what} must be a single path component, got {name!r}")


def _delegated_v2_path(
    mounts: CgroupMounts, mountinfo: Path, proc_self_cgroup: Path, wanted: list[str]
) -> str:
    """``<unified mount>/<own cgroup>``, own cgroup taken from the 0:: line, leaf stripped."""
    if mounts.v2 is None:
        raise SandboxSetupError(
            f"no cgroup hierarchy carries {', '.join(wanted)}",
            str(mountinfo),
            "mount cgroup2 (or the v1 hierarchies) and enable the controllers in the kernel",
        )
    with _step("read the unified hierarchy", str(mounts.v2)):
        available = set(_read(f"{mounts.v2}/cgroup.controllers").split())
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


# --- facade ------------------------------------------------------------------------------------


class Cgroups:
    """The sandbox groups of one daemon: ``<parent_name>/<name>`` in every hierarchy in use.

    Build it with ``detect``. Methods are blocking file operations (tens to hundreds of us;
    ``kill_all`` may sleep up to ~2 s) and keep no state, so they may run in worker threads.
    """

    def __init__(self, *, parent_name: str, drivers: list[_Driver], ops: HostOps) -> None:
        self.parent_name = parent_name
        self._drivers = drivers
        self._ops = ops
        self._memory = next(d for d in drivers if d.owns("memory"))
        # v1 cpuacct when mounted, else the v2 group's cpu.stat (detect() ensures one exists).
        self._usage = next(d for d in drivers if d.owns("cpuacct") or isinstance(d, _V2Driver))

    @classmethod
    def detect(
        cls,
        *,
        parent_name: str,
        mountinfo: Path = Path("/proc/self/mountinfo"),
        proc_self_cgroup: Path = Path("/proc/self/cgroup"),
        ops: HostOps | None = None,
    ) -> Cgroups:
        """Choose a driver per controller: v1 where it is mounted, else the unified hierarchy."""
        _check_name(parent_name, "parent_name")
        if "lambdalet" not in parent_name:
            raise ValueError(f"parent_name must contain 'lambdalet', got {parent_name!r}")
        ops = ops or HostOps()
        with _step("read mountinfo", str(mountinfo)):
            mounts = parse_mountinfo(mountinfo.read_text())
        drivers: list[_Driver] = []
        if mounts.v1:
            parent_of = {c: f"{m}/{parent_name}" for c, m in mounts.v1.items()}
            drivers.append(_V1Driver(parent_of=parent_of, ops=ops))
        v2_wanted = [c for c in REQUIRED_CONTROLLERS if c not in mounts.v1]
        if v2_wanted:
            own = _delegated_v2_path(mounts, mountinfo, proc_self_cgroup, v2_wanted)
            at_root = own == str(mounts.v2).rstrip("/") and mounts.v2_root == "/"
            parent_of = {c: f"{own}/{parent_name}" for c in v2_wanted}
            drivers.append(_V2Driver(delegated=own, at_root=at_root, parent_of=parent_of, ops=ops))
        elif "cpuacct" not in mounts.v1:
            raise SandboxSetupError(
                "no way to read CPU usage: cpu is a v1 controller but cpuacct is not mounted",
                str(mountinfo),
                "mount the cpuacct hierarchy (mount -t cgroup -o cpuacct cgroup <dir>)",
            )
        return cls(parent_name=parent_name, drivers=drivers, ops=ops)

    def describe(self) -> dict[str, str]:
        """controller -> ``"v1:<parent dir>"`` / ``"v2:<parent dir>"``, for logs and docs."""
        return {c: p for driver in self._drivers for c, p in driver.describe().items()}

    def prepare(self) -> None:
        """Create the parent group(s); v2: enable the controllers below them. Idempotent."""
        for driver in self._drivers:
            driver.prepare()

    def create(self, name: str, limits: CgroupLimits | None) -> None:
        """Create group ``name`` in every hierarchy and write its limits; all or nothing.

        With ``limits=None`` the group starts unlimited (a stem, specialized later with
        `set_limits`). Limits may only be lowered from unlimited in v1 (memsw ordering).
        """
        _check_name(name)
        created: list[_Driver] = []
        try:
            for driver in self._drivers:
                driver.create(name, limits)
                created.append(driver)
        except SandboxSetupError:
            for driver in created:
                for error in driver.destroy(name):
                    log.warning("rollback of cgroup %s: %s", name, error)
            raise

    def set_limits(self, name: str, limits: CgroupLimits) -> None:
        """Write `limits` into an existing group (created unlimited)."""
        _check_name(name)
        for driver in self._drivers:
            driver.write_limits(name, limits)

    def set_cpu_quota(self, name: str, *, quota_us: int, period_us: int) -> None:
        """Change the CPU quota of an existing group (e.g. after an init-phase boost)."""
        _check_name(name)
        for driver in self._drivers:
            if driver.owns("cpu"):
                driver.set_cpu_quota(name, quota_us, period_us)

    def procs_files(self, name: str) -> list[str]:
        """Every cgroup.procs a process writes its pid into to join ``name``, one per hierarchy."""
        _check_name(name)
        return [path for driver in self._drivers for path in driver.procs_files(name)]

    def join(self, name: str, pid: int) -> None:
        """Move process ``pid`` (all its threads) into group ``name`` in every hierarchy."""
        for path in self.procs_files(name):
            with _step(f"move pid {pid} into cgroup {name}", path):
                _write(path, str(pid))

    def memory_peak_bytes(self, name: str) -> int:
        """Highest memory use: v1 memory.max_usage_in_bytes, v2 memory.peak (else .current)."""
        _check_name(name)
        return self._memory.memory_peak_bytes(name)

    def open_memory_peak(self, name: str) -> int:
        """An fd to read the group's peak memory from with `read_memory_peak` (the hot path:
        one pread per invoke instead of open/read/close). The caller closes it."""
        _check_name(name)
        path = self._memory.memory_peak_file(name)
        with _step("open the memory peak file", path):
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    @staticmethod
    def read_memory_peak(fd: int) -> int:
        return int(os.pread(fd, 32, 0))

    def oom_kill_count(self, name: str) -> int:
        """Processes the kernel OOM-killed in the group (0 when the kernel does not count)."""
        _check_name(name)
        return self._memory.oom_kill_count(name)

    def cpu_usage_ns(self, name: str) -> int:
        """CPU time used by the group: v1 cpuacct.usage, v2 cpu.stat usage_usec * 1000."""
        _check_name(name)
        return self._usage.cpu_usage_ns(name)

    def pids(self, name: str) -> set[int]:
        """Processes in the group, over all hierarchies; empty if the group does not exist."""
        _check_name(name)
        return set().union(*(driver.pids(name) for driver in self._drivers))

    def populated(self, name: str) -> bool:
        """Whether any process is still in the group (False if it does not exist)."""
        _check_name(name)
        return any(driver.populated(name) for driver in self._drivers)

    def kill_all(self, name: str, *, max_rounds: int = 100) -> None:
        """SIGKILL every process in the group, round after round until it is empty.

        A round is v2 ``cgroup.kill`` where the kernel has it, else freeze (v1 freezer or v2
        cgroup.freeze), SIGKILL every pid, thaw: a frozen task can neither fork nor exit, so a
        fork bomb cannot outrun the loop and no pid is reused under us (without any freezer
        that race is only narrowed). Between rounds it sleeps 1, 2, ... up to 20 ms, so it
        blocks: run it in a thread (or with ``max_rounds=1`` on an event loop). Survivors after
        ``max_rounds`` (tasks in D state) are not an error here: check ``populated()``.
        """
        _check_name(name)
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
        for round_no in range(max_rounds):
            if not self.pids(name):
                return
            self._kill_round(name)
            if round_no + 1 < max_rounds:
                self._ops.sleep(min(0.001 * (round_no + 1), 0.02))
        log.debug("cgroup %s: processes left after %d kill rounds", name, max_rounds)

    def _kill_round(self, name: str) -> None:
        if any(driver.kill_all_at_once(name) for driver in self._drivers):
            return
        frozen_by = next((d for d in self._drivers if d.freeze(name, True)), None)
        try:
            for pid in self.pids(name):
                try:
                    self._ops.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        finally:
            if frozen_by is not None:
                frozen_by.freeze(name, False)

    def destroy(self, name: str) -> None:
        """Remove the group from every hierarchy; already missing is fine; busy raises."""
        _check_name(name)
        # Every hierarchy is tried before the first failure is raised.
        if errors := [e for driver in self._drivers for e in driver.destroy(name)]:
            raise errors[0] from errors[0].__cause__

    def children(self) -> list[str]:
        """Names of the groups under the parent in any hierarchy, for the start-up sweep."""
        return sorted(set().union(*(driver.children() for driver in self._drivers)))

    def remove_parent(self) -> None:
        """Remove the parent group(s) at daemon stop; a parent that still has groups is kept."""
        if left := self.children():
            log.warning("keeping cgroup parent %s: %d groups left", self.parent_name, len(left))
            return
        for driver in self._drivers:
            driver.remove_parent()
