"""Per-hierarchy cgroup drivers (v1, v2) and the unbuffered control-file I/O they share.

Used by the ``Cgroups`` facade in ``sandbox.cgroups``; OSErrors become SandboxSetupError.
"""

from __future__ import annotations

import errno
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cgroupspy.controllers import CpuAcctController, CpuController, MemoryController
from cgroupspy.nodes import Node

from sandbox.errors import SandboxSetupError
from sandbox.limits import CgroupLimits

log = logging.getLogger(__name__)

# v2: the leaf the daemon moves itself into so that its own cgroup may get subtree_control
# (the "no internal processes" rule); detect() run from inside that leaf strips it again.
SUPERVISOR_LEAF = "supervisor"

_HINTS = {
    errno.EACCES: "run as root (cgroup v2: as a systemd service with Delegate=yes)",
    errno.EPERM: "run as root (cgroup v2: as a systemd service with Delegate=yes)",
    errno.EROFS: "the cgroup filesystem is read-only (a container? give it a writable cgroupns)",
    errno.ENOENT: "a hierarchy or control file is missing: check the mounts and kernel config",
    errno.EBUSY: "processes or child groups are still inside: kill_all() first",
    errno.ESRCH: "the process has already exited",
    errno.EEXIST: "a group of that name exists (a crashed predecessor's?): destroy() it first",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class HostOps:
    """Operations a plain directory tree cannot imitate; unit tests pass fakes."""

    mkdir: Callable[[str], None] = os.mkdir
    rmdir: Callable[[str], None] = os.rmdir
    kill: Callable[[int, int], None] = os.kill
    sleep: Callable[[float], None] = time.sleep
    getpid: Callable[[], int] = os.getpid


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.events, cpu.stat, memory.oom_control) as a dict."""
    pairs = (line.split() for line in text.splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].lstrip("-").isdigit()}


# --- file I/O: unbuffered, one syscall per control file ----------------------------------------


def _read(path: str | bytes) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def _write(path: str | bytes, value: str) -> None:
    # O_TRUNC is a no-op on cgroupfs and keeps a fake tree's files exact; no O_CREAT, so a
    # missing control file fails with ENOENT as it does on the kernel.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def _write_if_present(path: str, value: str) -> bool:
    try:
        _write(path, value)
    except FileNotFoundError:
        return False
    return True


def _read_pids(path: str) -> set[int]:
    try:
        return {int(p) for p in _read(path).split()}
    except FileNotFoundError:
        return set()


def _error(step: str, path: str, err: OSError, ebusy_hint: str | None = None) -> SandboxSetupError:
    code = err.errno or 0
    hint = ebusy_hint if ebusy_hint and code == errno.EBUSY else _HINTS.get(code)
    path = os.fsdecode(err.filename) if err.filename else path  # the exact file, if known
    return SandboxSetupError(f"{step}: {err.strerror}", path, hint or os.strerror(code))


@contextmanager
def _step(step: str, path: str, ebusy_hint: str | None = None) -> Iterator[None]:
    """Turn an OSError of the block into SandboxSetupError(step, path, hint) raised from it."""
    try:
        yield
    except OSError as err:
        raise _error(step, path, err, ebusy_hint) from err


class _RawIO:
    """cgroupspy's control-file descriptors over unbuffered os-level I/O.

    Stock cgroupspy opens each file in text mode: ~25 us a write on this host against ~11 us
    here, and a ~1 ms p95 for create(), which is on the cold-start path (measured).
    """

    node: Any

    def get_property(self, filename: bytes) -> str:
        return _read(os.path.join(self.node.full_path, filename)).strip()

    def set_property(self, filename: bytes, value: object) -> None:
        _write(os.path.join(self.node.full_path, filename), str(value))


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


# --- drivers -----------------------------------------------------------------------------------


class _Driver:
    """What both drivers share: a parent dir per hierarchy, ``<parent>/<name>`` below it."""

    kind = ""

    def __init__(self, *, parent_of: dict[str, str], ops: HostOps) -> None:
        self._parent_of = parent_of  # controller -> parent group dir
        self._parents = list(dict.fromkeys(parent_of.values()))  # co-mounted share one
        self._ops = ops

    def owns(self, controller: str) -> bool:
        return controller in self._parent_of

    def describe(self) -> dict[str, str]:
        return {c: f"{self.kind}:{p}" for c, p in self._parent_of.items()}

    def _dir(self, controller: str, name: str) -> str:
        return f"{self._parent_of[controller]}/{name}"

    def _dirs(self, name: str) -> list[str]:
        return [f"{parent}/{name}" for parent in self._parents]

    def prepare(self) -> None:
        for parent in self._parents:
            try:
                self._ops.mkdir(parent)
            except FileExistsError:
                pass
            except OSError as err:
                raise _error("create the parent cgroup", parent, err) from err

    def create(self, name: str, limits: CgroupLimits | None) -> None:
        created: list[str] = []
        try:
            for path in self._dirs(name):
                with _step(f"create {self.kind} cgroup {name}", path):
                    self._ops.mkdir(path)
                created.append(path)
            if limits is not None:
                self.write_limits(name, limits)
        except SandboxSetupError:
            for path in reversed(created):
                try:
                    self._ops.rmdir(path)
                except OSError as err:
                    log.warning("could not remove half-created cgroup %s: %s", path, err)
            raise

    def write_limits(self, name: str, limits: CgroupLimits) -> None:
        raise NotImplementedError

    def set_cpu_quota(self, name: str, quota_us: int, period_us: int) -> None:
        raise NotImplementedError

    def procs_files(self, name: str) -> list[str]:
        return [f"{path}/cgroup.procs" for path in self._dirs(name)]

    def pids(self, name: str) -> set[int]:
        return set().union(*(_read_pids(path) for path in self.procs_files(name)))

    def populated(self, name: str) -> bool:
        return bool(self.pids(name))

    def kill_all_at_once(self, name: str) -> bool:
        return False

    def freeze(self, name: str, frozen: bool) -> bool:
        return False

    def memory_peak_bytes(self, name: str) -> int:
        raise NotImplementedError

    def memory_peak_file(self, name: str) -> str:
        raise NotImplementedError

    def oom_kill_count(self, name: str) -> int:
        raise NotImplementedError

    def cpu_usage_ns(self, name: str) -> int:
        raise NotImplementedError

    def destroy(self, name: str) -> list[SandboxSetupError]:
        return _rmdir_all(self._ops, self._dirs(name), f"remove cgroup {name}")

    def children(self) -> set[str]:
        names: set[str] = set()
        for parent in self._parents:
            try:
                with os.scandir(parent) as entries:
                    names |= {e.name for e in entries if e.is_dir(follow_symlinks=False)}
            except FileNotFoundError:
                pass
        return names

    def remove_parent(self) -> None:
        if errors := _rmdir_all(self._ops, self._parents, "remove the parent cgroup"):
            raise errors[0] from errors[0].__cause__


def _rmdir_all(ops: HostOps, paths: Iterable[str], step: str) -> list[SandboxSetupError]:
    """rmdir each path, missing ones included; the errors, each with its OSError as cause."""
    errors = []
    for path in paths:
        try:
            ops.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            error = _error(step, path, err)
            error.__cause__ = err
            errors.append(error)
    return errors


class _V1Driver(_Driver):
    """``<hierarchy mount>/<parent>/<name>`` per v1 hierarchy, at its root (Docker cgroupfs).

    memory, cpu and cpuacct files go through cgroupspy controllers; pids and freezer, which
    cgroupspy lacks, and core files (cgroup.procs) are plain files.
    """

    kind = "v1"

    def write_limits(self, name: str, limits: CgroupLimits) -> None:
        if self.owns("memory"):
            path = self._dir("memory", name)
            memory = _MemoryFiles(_node(path))
            with _step(f"write memory limits of {name}", path):
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
            with _step(f"write cpu limits of {name}", path):
                cpu.cfs_period_us = limits.cpu_period_us  # the quota is checked against it
                cpu.cfs_quota_us = limits.cpu_quota_us
        if self.owns("pids"):
            path = f"{self._dir('pids', name)}/pids.max"
            with _step(f"write pids limit of {name}", path):
                _write(path, str(limits.pids_max))

    def set_cpu_quota(self, name: str, quota_us: int, period_us: int) -> None:
        path = self._dir("cpu", name)
        with _step(f"write cpu quota of {name}", path):
            _write(f"{path}/cpu.cfs_quota_us", str(quota_us))

    def memory_peak_file(self, name: str) -> str:
        return f"{self._dir('memory', name)}/memory.max_usage_in_bytes"

    def memory_peak_bytes(self, name: str) -> int:
        path = self._dir("memory", name)
        with _step("read memory.max_usage_in_bytes", path):
            return int(_MemoryFiles(_node(path)).max_usage_in_bytes or 0)

    def oom_kill_count(self, name: str) -> int:
        # "oom_kill N" exists since Linux 4.13; without it there is no count, and memory.failcnt
        # is no proxy: it counts every time usage hit the limit and was reclaimed, not kills.
        path = self._dir("memory", name)
        with _step("read memory.oom_control", path):
            oom_control = _MemoryFiles(_node(path)).oom_control
        return int(oom_control.get("oom_kill", 0)) if isinstance(oom_control, dict) else 0

    def cpu_usage_ns(self, name: str) -> int:
        path = self._dir("cpuacct", name)
        with _step("read cpuacct.usage", path):
            return int(_CpuAcctFiles(_node(path)).usage or 0)

    def freeze(self, name: str, frozen: bool) -> bool:
        if not self.owns("freezer"):
            return False
        path = f"{self._dir('freezer', name)}/freezer.state"
        want = "FROZEN" if frozen else "THAWED"
        with _step(f"write {want} to the freezer", path):
            if not _write_if_present(path, want):
                return False
            # FREEZING -> FROZEN is asynchronous; a straggler is caught by the next round.
            for _ in range(20 if frozen else 0):
                if _read(path).strip() == want:
                    break
                self._ops.sleep(0.0005)
        return True


class _V2Driver(_Driver):
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
        with _step("read the delegated cgroup", own):
            available = set(_read(f"{own}/cgroup.controllers").split())
            enabled = set(_read(f"{own}/cgroup.subtree_control").split())
            in_own = self._ops.getpid() in _read_pids(f"{own}/cgroup.procs")
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
            with _step("enable controllers in cgroup.subtree_control", own, busy):
                _write(f"{own}/cgroup.subtree_control", enable)
        super().prepare()
        parent = self._parents[0]
        with _step("enable controllers in cgroup.subtree_control", parent):
            _write(f"{parent}/cgroup.subtree_control", enable)

    def _move_self_to_leaf(self) -> None:
        leaf = f"{self._delegated}/{SUPERVISOR_LEAF}"
        pid = self._ops.getpid()
        with _step("move the daemon into its leaf cgroup", leaf):
            try:
                self._ops.mkdir(leaf)
            except FileExistsError:
                pass
            _write(f"{leaf}/cgroup.procs", str(pid))
        log.info("moved pid %d into %s (no internal processes rule)", pid, leaf)

    def write_limits(self, name: str, limits: CgroupLimits) -> None:
        group = self._dirs(name)[0]
        writes: list[tuple[str, str]] = []
        if self.owns("memory"):
            mem = str(limits.memory_max_bytes)
            writes += [("memory.max", mem), ("memory.swap.max", "0"), ("memory.oom.group", "1")]
        if self.owns("cpu"):
            writes.append(("cpu.max", f"{limits.cpu_quota_us} {limits.cpu_period_us}"))
        if self.owns("pids"):
            writes.append(("pids.max", str(limits.pids_max)))
        for filename, value in writes:
            path = f"{group}/{filename}"
            with _step(f"write limits of {name}", path):
                try:
                    _write(path, value)
                except FileNotFoundError:
                    if filename != "memory.swap.max":  # absent without swap accounting
                        raise

    def set_cpu_quota(self, name: str, quota_us: int, period_us: int) -> None:
        path = f"{self._dirs(name)[0]}/cpu.max"
        with _step(f"write cpu quota of {name}", path):
            _write(path, f"{quota_us} {period_us}")

    def _read_file(self, name: str, filename: str) -> str:
        path = f"{self._dirs(name)[0]}/{filename}"
        with _step(f"read {filename}", path):
            return _read(path)

    def memory_peak_file(self, name: str) -> str:
        group = self._dirs(name)[0]
        peak = f"{group}/memory.peak"
        return peak if os.path.exists(peak) else f"{group}/memory.current"

    def memory_peak_bytes(self, name: str) -> int:
        # memory.peak exists since Linux 5.19; memory.current is a lower bound before that.
        path = f"{self._dirs(name)[0]}/memory.peak"
        try:
            return int(_read(path))
        except FileNotFoundError:
            return int(self._read_file(name, "memory.current"))
        except OSError as err:
            raise _error("read memory.peak", path, err) from err

    def oom_kill_count(self, name: str) -> int:
        return parse_flat_keyed(self._read_file(name, "memory.events")).get("oom_kill", 0)

    def cpu_usage_ns(self, name: str) -> int:
        return parse_flat_keyed(self._read_file(name, "cpu.stat")).get("usage_usec", 0) * 1000

    def populated(self, name: str) -> bool:
        try:
            events = parse_flat_keyed(_read(f"{self._dirs(name)[0]}/cgroup.events"))
        except FileNotFoundError:
            return False
        return events.get("populated", 0) == 1

    def kill_all_at_once(self, name: str) -> bool:
        # cgroup.kill (Linux 5.14) SIGKILLs every process, forks in flight included.
        path = f"{self._dirs(name)[0]}/cgroup.kill"
        with _step("write cgroup.kill", path):
            return _write_if_present(path, "1")

    def freeze(self, name: str, frozen: bool) -> bool:
        path = f"{self._dirs(name)[0]}/cgroup.freeze"  # Linux 5.2
        with _step("write cgroup.freeze", path):
            return _write_if_present(path, "1" if frozen else "0")
