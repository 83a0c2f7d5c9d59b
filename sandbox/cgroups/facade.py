"""The ``Cgroups`` facade: one daemon's sandbox groups, each controller on its driver."""

from __future__ import annotations

import logging
import os
import signal
from pathlib import Path

from sandbox.cgroups.driver import Driver
from sandbox.cgroups.files import HostOps, setup_step, write
from sandbox.cgroups.mounts import REQUIRED_CONTROLLERS, parse_mountinfo
from sandbox.cgroups.v1 import V1Driver
from sandbox.cgroups.v2 import V2Driver, V2FreezeDriver, delegated_path
from sandbox.errors import SandboxSetupError
from sandbox.limits import CgroupLimits

log = logging.getLogger(__name__)


def _check_name(name: str, what: str = "cgroup name") -> None:
    if not name or name in {".", ".."} or any(c in name for c in "/\0\n"):
        raise ValueError(f"{what} must be a single path component, got {name!r}")


class Cgroups:
    """The sandbox groups of one daemon: ``<parent_name>/<name>`` in every hierarchy in use.

    Build it with ``detect``. Methods are blocking file operations (tens to hundreds of us;
    ``kill_all`` may sleep up to ~2 s) and keep no state, so they may run in worker threads.

    Every path (mountinfo, /proc/self/cgroup, the hierarchies) is a parameter, and the few
    operations a plain directory cannot imitate (cgroup mkdir/rmdir, kill, sleep) are in
    ``HostOps``, so the package runs unchanged against a fake tree. Cleanup: ``kill_all`` empties
    a group, ``destroy`` removes it from every hierarchy, ``children`` finds a crashed
    predecessor's groups, ``remove_parent`` removes the empty parent at daemon stop.
    """

    def __init__(self, *, parent_name: str, drivers: list[Driver], ops: HostOps) -> None:
        self.parent_name = parent_name
        self._drivers = drivers
        self._ops = ops
        self._memory = next(d for d in drivers if d.owns("memory"))
        # v1 cpuacct when mounted, else the v2 group's cpu.stat (detect() ensures one exists).
        self._usage = next(
            d
            for d in drivers
            if d.owns("cpuacct") or (isinstance(d, V2Driver) and not isinstance(d, V2FreezeDriver))
        )
        # cgroup.freeze (whose frozen tasks still die of SIGKILL) where there is a v2 group,
        # else the v1 freezer; None: no way to freeze.
        self._freezer = self._choose_freezer()

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
        with setup_step("read mountinfo", str(mountinfo)):
            mounts = parse_mountinfo(mountinfo.read_text())
        drivers: list[Driver] = []
        if mounts.v1:
            parent_of = {c: f"{m}/{parent_name}" for c, m in mounts.v1.items()}
            drivers.append(V1Driver(parent_of=parent_of, ops=ops))
        v2_wanted = [c for c in REQUIRED_CONTROLLERS if c not in mounts.v1]
        if v2_wanted:
            own = delegated_path(mounts, mountinfo, proc_self_cgroup, v2_wanted)
            at_root = own == str(mounts.v2).rstrip("/") and mounts.v2_root == "/"
            parent_of = {c: f"{own}/{parent_name}" for c in v2_wanted}
            drivers.append(V2Driver(delegated=own, at_root=at_root, parent_of=parent_of, ops=ops))
        elif "cpuacct" not in mounts.v1:
            raise SandboxSetupError(
                "no way to read CPU usage: cpu is a v1 controller but cpuacct is not mounted",
                str(mountinfo),
                "mount the cpuacct hierarchy (mount -t cgroup -o cpuacct cgroup <dir>)",
            )
        elif mounts.v2 is not None:  # hybrid: the unified hierarchy, for cgroup.freeze alone
            own = delegated_path(mounts, mountinfo, proc_self_cgroup, [])
            parent = f"{own}/{parent_name}"
            drivers.append(V2FreezeDriver(delegated=own, parent=parent, ops=ops))
        return cls(parent_name=parent_name, drivers=drivers, ops=ops)

    def describe(self) -> dict[str, str]:
        """controller -> ``"v1:<parent dir>"`` / ``"v2:<parent dir>"``, for logs and docs."""
        return {c: p for driver in self._drivers for c, p in driver.describe().items()}

    def _choose_freezer(self) -> Driver | None:
        v2: list[Driver] = [d for d in self._drivers if isinstance(d, V2Driver)]
        return next(iter(v2 or [d for d in self._drivers if d.owns("freezer")]), None)

    def prepare(self) -> None:
        """Create the parent group(s); v2: enable the controllers below them. Idempotent.

        A hybrid host's unified hierarchy that refuses a group (read-only, say) is done
        without: sandboxes are then frozen by the v1 freezer, if any.
        """
        for driver in list(self._drivers):
            try:
                driver.prepare()
            except SandboxSetupError as exc:
                if not isinstance(driver, V2FreezeDriver):
                    raise
                log.warning("cgroups: not freezing through the unified hierarchy: %s", exc)
                self._drivers.remove(driver)
                self._freezer = self._choose_freezer()

    def create(self, name: str, limits: CgroupLimits | None) -> None:
        """Create group ``name`` in every hierarchy and write its limits; all or nothing.

        With ``limits=None`` the group starts unlimited (a stem, specialized later with
        `set_limits`). Limits may only be lowered from unlimited in v1 (memsw ordering).
        """
        _check_name(name)
        created: list[Driver] = []
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
            with setup_step(f"move pid {pid} into cgroup {name}", path):
                write(path, str(pid))

    def memory_peak_bytes(self, name: str) -> int:
        """Highest memory use: v1 memory.max_usage_in_bytes, v2 memory.peak (else .current)."""
        _check_name(name)
        return self._memory.memory_peak_bytes(name)

    def open_memory_peak(self, name: str) -> int:
        """An fd to read the group's peak memory from with `read_memory_peak` (the hot path:
        one pread per invoke instead of open/read/close). The caller closes it."""
        _check_name(name)
        path = self._memory.memory_peak_file(name)
        with setup_step("open the memory peak file", path):
            return os.open(path, os.O_RDONLY | os.O_CLOEXEC)

    @staticmethod
    def read_memory_peak(fd: int) -> int:
        return int(os.pread(fd, 32, 0))

    def memory_usage_bytes(self, name: str) -> int:
        """Memory charged to the group now: v1 memory.usage_in_bytes, v2 memory.current."""
        _check_name(name)
        return self._memory.memory_usage_bytes(name)

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

    @property
    def can_freeze(self) -> bool:
        """Whether a freezer (v1 freezer hierarchy or v2 cgroup.freeze) holds the groups."""
        return self._freezer is not None

    def set_frozen(self, name: str, frozen: bool) -> bool:
        """Freeze or thaw the group (v1 ``freezer.state``, v2 ``cgroup.freeze``); False when
        there is no freezer, or the kernel lacks the file.

        It never waits for the kernel to finish freezing (v1 FREEZING, v2 ``frozen 0``): one
        write of tens of us (v1, measured), so it may run on an event loop. A frozen task acts
        on no signal, not even SIGKILL on v1, until thawed: thaw before killing (``kill_all``
        thaws after).
        """
        _check_name(name)
        return self._freezer is not None and self._freezer.request_freeze(name, frozen)

    def freezer_state(self, name: str) -> str | None:
        """``THAWED``, ``FREEZING`` or ``FROZEN``; None without a freezer."""
        _check_name(name)
        return None if self._freezer is None else self._freezer.freezer_state(name)

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
