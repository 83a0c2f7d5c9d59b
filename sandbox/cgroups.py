"""Thin kernel adapter for sandbox cgroups: a v1 and a v2 driver, chosen per controller.

Every path (mountinfo, /proc/self/cgroup, the hierarchies) is a parameter and the few
operations a plain directory cannot imitate (mkdir/rmdir of a cgroup, kill, sleep) are in
``HostOps``, so the module runs unchanged against a fake tree. Cleanup: ``kill_all`` empties a
group, ``destroy`` removes it from every hierarchy, ``children`` finds a crashed predecessor's
groups, ``remove_parent`` removes the (empty) parent at daemon stop.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import signal
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from cgroupspy.controllers import CpuAcctController, CpuController, MemoryController
from cgroupspy.nodes import Node

from sandbox.errors import SandboxSetupError
from sandbox.limits import CgroupLimits

log = logging.getLogger(__name__)

# Controllers a sandbox cannot do without, then v1-only helpers: cpuacct (CPU usage; v2 has it
# in the core cpu.stat) and freezer (kill_all; v2 has cgroup.freeze / cgroup.kill in the core).
REQUIRED_CONTROLLERS = ("memory", "cpu", "pids")
V1_HELPER_CONTROLLERS = ("cpuacct", "freezer")
_V1_CONTROLLERS = REQUIRED_CONTROLLERS + V1_HELPER_CONTROLLERS
# v2: the leaf the daemon moves itself into so that its own cgroup may have subtree_control
# (the "no internal processes" rule). A detect() run from inside it strips it again.
SUPERVISOR_LEAF = "supervisor"

_HINT_PRIVILEGE = "run as root (cgroup v2: as a systemd service with Delegate=yes)"
_FREEZE_POLLS = 20


@dataclass(frozen=True, slots=True, kw_only=True)
class HostOps:
    """Operations a plain directory tree cannot imitate; unit tests pass fakes."""

    mkdir: Callable[[str], None] = os.mkdir
    rmdir: Callable[[str], None] = os.rmdir
    kill: Callable[[int, int], None] = os.kill
    sleep: Callable[[float], None] = time.sleep
    getpid: Callable[[], int] = os.getpid


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupMounts:
    """The cgroup mounts of /proc/self/mountinfo that matter to a sandbox."""

    v1: dict[str, Path]  # controller -> mount point of the v1 hierarchy carrying it
    v2: Path | None  # cgroup2 mount point
    v2_root: str = "/"  # the cgroup2 mount's root inside the hierarchy (not "/" if bind-mounted)


# ---------------------------------------------------------------------------------------------
# pure parsing


def parse_mountinfo(text: str) -> CgroupMounts:
    """v1 hierarchies per controller and the cgroup2 mount; a mount of the hierarchy root wins."""
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
        fstype, super_options = tail[0], tail[2]
        if fstype == "cgroup2" and v2 is None:
            v2, v2_root = mount, root
        elif fstype == "cgroup":
            for option in super_options.split(","):
                if option in _V1_CONTROLLERS and option not in rooted:
                    v1.setdefault(option, mount)
                    if root == "/":
                        v1[option] = mount
                        rooted.add(option)
    return CgroupMounts(v1=v1, v2=v2, v2_root=v2_root)


def parse_own_cgroup(text: str) -> str | None:
    """The unified-hierarchy path of the ``0::`` line of /proc/<pid>/cgroup, if any."""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.events, cpu.stat, memory.oom_control) as a dict."""
    result: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("-").isdigit():
            result[parts[0]] = int(parts[1])
    return result


def _unescape(field: str) -> str:
    # mountinfo escapes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def _check_name(name: str, what: str = "cgroup name") -> None:
    if not name or name in {".", ".."} or any(c in name for c in "/\0\n"):
        raise ValueError(f"{what} must be a single path component, got {name!r}")


# ---------------------------------------------------------------------------------------------
# file I/O (unbuffered: control files are read and written whole, in one syscall)


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


def _read_pids(path: str) -> set[int]:
    try:
        return {int(p) for p in _read(path).split()}
    except FileNotFoundError:
        return set()


def _hint(err: OSError) -> str:
    if err.errno in (errno.EACCES, errno.EPERM):
        return _HINT_PRIVILEGE
    if err.errno == errno.EROFS:
        return "the cgroup filesystem is mounted read-only (in a container? give it a writable cgroupns)"
    if err.errno == errno.ENOENT:
        return "a hierarchy or control file is missing: check the mounts and kernel config"
    if err.errno == errno.EBUSY:
        return "processes or child groups are still inside: kill_all() first"
    if err.errno == errno.ESRCH:
        return "the process has already exited"
    if err.errno == errno.EEXIST:
        return "a group of that name exists (a crashed predecessor's?): destroy() it first"
    return os.strerror(err.errno or 0)


def _error(
    step: str, path: str | bytes, err: OSError, hint: str | None = None
) -> SandboxSetupError:
    return SandboxSetupError(f"{step}: {err.strerror}", os.fsdecode(path), hint or _hint(err))


class _RawIO:
    """cgroupspy's control-file descriptors over unbuffered os-level I/O.

    Stock cgroupspy opens each file in text mode: ~25 us a write on this host against ~11 us
    here, and a ~1 ms p95 on create(), which is on the cold-start path (measured).
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
    # A bare root Node for exactly this path: no trees.Tree walk (~2 ms here) on the hot path.
    return Node(os.fsencode(path))


# ---------------------------------------------------------------------------------------------
# drivers


class _Driver(Protocol):
    def owns(self, controller: str) -> bool: ...
    def describe(self) -> dict[str, str]: ...
    def prepare(self) -> None: ...
    def create(self, name: str, limits: CgroupLimits) -> None: ...
    def procs_files(self, name: str) -> list[str]: ...
    def memory_peak_bytes(self, name: str) -> int: ...
    def oom_kill_count(self, name: str) -> int: ...
    def cpu_usage_ns(self, name: str) -> int: ...
    def pids(self, name: str) -> set[int]: ...
    def populated(self, name: str) -> bool: ...
    def kill_all_at_once(self, name: str) -> bool: ...
    def freeze(self, name: str, frozen: bool) -> bool: ...
    def destroy(self, name: str) -> list[SandboxSetupError]: ...
    def children(self) -> set[str]: ...
    def remove_parent(self) -> None: ...


def _mkdir_parent(ops: HostOps, path: str) -> None:
    try:
        ops.mkdir(path)
    except FileExistsError:
        pass
    except OSError as err:
        raise _error("create the parent cgroup", path, err) from err


def _rollback(ops: HostOps, created: Iterable[str]) -> None:
    for path in reversed(list(created)):
        try:
            ops.rmdir(path)
        except OSError as err:
            log.warning("could not remove half-created cgroup %s: %s", path, err)


def _rmdir_all(ops: HostOps, paths: Iterable[str], step: str) -> list[SandboxSetupError]:
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


def _subdirs(path: str) -> set[str]:
    try:
        with os.scandir(path) as entries:
            return {e.name for e in entries if e.is_dir(follow_symlinks=False)}
    except FileNotFoundError:
        return set()


class _V1Driver:
    """One directory per v1 hierarchy: ``<mount>/<parent>/<name>``; co-mounted ones share it.

    memory, cpu and cpuacct files go through cgroupspy controllers; pids and freezer, which
    cgroupspy lacks, and the core files (cgroup.procs) are plain files.
    """

    def __init__(self, *, parent_name: str, mounts: dict[str, Path], ops: HostOps) -> None:
        self._ops = ops
        self._parent_of = {c: f"{mounts[c]}/{parent_name}" for c in _V1_CONTROLLERS if c in mounts}
        self._parents = list(dict.fromkeys(self._parent_of.values()))

    def owns(self, controller: str) -> bool:
        return controller in self._parent_of

    def describe(self) -> dict[str, str]:
        return {c: f"v1:{p}" for c, p in self._parent_of.items()}

    def prepare(self) -> None:
        for parent in self._parents:
            _mkdir_parent(self._ops, parent)

    def _dir(self, controller: str, name: str) -> str:
        return f"{self._parent_of[controller]}/{name}"

    def create(self, name: str, limits: CgroupLimits) -> None:
        created: list[str] = []
        path = ""
        try:
            for parent in self._parents:
                path = f"{parent}/{name}"
                self._ops.mkdir(path)
                created.append(path)
            if self.owns("memory"):
                path = self._dir("memory", name)
                memory = _MemoryFiles(_node(path))
                memory.limit_in_bytes = limits.memory_max_bytes
                # memsw (memory+swap) must stay >= limit_in_bytes, hence after it; it exists only
                # with swap accounting.
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
                cpu.cfs_period_us = limits.cpu_period_us
                cpu.cfs_quota_us = limits.cpu_quota_us
            if self.owns("pids"):
                path = f"{self._dir('pids', name)}/pids.max"
                _write(path, str(limits.pids_max))
        except OSError as err:
            _rollback(self._ops, created)
            raise _error(f"create v1 cgroup {name}", path, err) from err

    def procs_files(self, name: str) -> list[str]:
        return [f"{parent}/{name}/cgroup.procs" for parent in self._parents]

    def memory_peak_bytes(self, name: str) -> int:
        path = self._dir("memory", name)
        try:
            return int(_MemoryFiles(_node(path)).max_usage_in_bytes or 0)
        except OSError as err:
            raise _error("read memory.max_usage_in_bytes", path, err) from err

    def oom_kill_count(self, name: str) -> int:
        # "oom_kill N" exists since Linux 4.13. Without it there is no count: memory.failcnt
        # counts every time usage hit the limit (and was reclaimed), not kills, so it is no proxy.
        path = self._dir("memory", name)
        try:
            oom_control = _MemoryFiles(_node(path)).oom_control
        except OSError as err:
            raise _error("read memory.oom_control", path, err) from err
        return int(oom_control.get("oom_kill", 0)) if isinstance(oom_control, dict) else 0

    def cpu_usage_ns(self, name: str) -> int:
        path = self._dir("cpuacct", name)
        try:
            return int(_CpuAcctFiles(_node(path)).usage or 0)
        except OSError as err:
            raise _error("read cpuacct.usage", path, err) from err

    def pids(self, name: str) -> set[int]:
        found: set[int] = set()
        for path in self.procs_files(name):
            found |= _read_pids(path)
        return found

    def populated(self, name: str) -> bool:
        return bool(self.pids(name))

    def kill_all_at_once(self, name: str) -> bool:
        return False

    def freeze(self, name: str, frozen: bool) -> bool:
        if not self.owns("freezer"):
            return False
        path = f"{self._dir('freezer', name)}/freezer.state"
        want = "FROZEN" if frozen else "THAWED"
        try:
            _write(path, want)
            # FREEZING -> FROZEN is asynchronous; stragglers are caught by the next round anyway.
            for _ in range(_FREEZE_POLLS if frozen else 0):
                if _read(path).strip() == want:
                    break
                self._ops.sleep(0.0005)
        except FileNotFoundError:
            return False
        except OSError as err:
            raise _error(f"write {want} to the freezer", path, err) from err
        return True

    def destroy(self, name: str) -> list[SandboxSetupError]:
        return _rmdir_all(
            self._ops, [f"{p}/{name}" for p in self._parents], f"remove cgroup {name}"
        )

    def children(self) -> set[str]:
        names: set[str] = set()
        for parent in self._parents:
            names |= _subdirs(parent)
        return names

    def remove_parent(self) -> None:
        errors = _rmdir_all(self._ops, self._parents, "remove the parent cgroup")
        if errors:
            raise errors[0] from errors[0].__cause__


class _V2Driver:
    """One directory ``<unified mount>/<own cgroup>/<parent>/<name>`` in the delegated subtree."""

    def __init__(
        self,
        *,
        parent_name: str,
        delegated: str,
        is_mount_root: bool,
        controllers: tuple[str, ...],
        ops: HostOps,
    ) -> None:
        self._ops = ops
        self._delegated = delegated
        self._parent = f"{delegated}/{parent_name}"
        self._controllers = controllers
        # The real root cgroup is exempt from the no-internal-processes rule.
        self._is_mount_root = is_mount_root

    def owns(self, controller: str) -> bool:
        return controller in self._controllers

    def describe(self) -> dict[str, str]:
        return {c: f"v2:{self._parent}" for c in self._controllers}

    def prepare(self) -> None:
        own = self._delegated
        try:
            available = set(_read(f"{own}/cgroup.controllers").split())
            enabled = set(_read(f"{own}/cgroup.subtree_control").split())
        except OSError as err:
            raise _error("read the delegated cgroup", own, err) from err
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
            moved = False
            if not self._is_mount_root and self._ops.getpid() in _read_pids(f"{own}/cgroup.procs"):
                self._move_self_to_leaf()
                moved = True
            try:
                self._enable(own, enable)
            except OSError as err:
                if err.errno != errno.EBUSY or moved:
                    raise _error(
                        "enable controllers in cgroup.subtree_control",
                        own,
                        err,
                        _busy_hint(err, own),
                    ) from err
                self._move_self_to_leaf()
                try:
                    self._enable(own, enable)
                except OSError as err2:
                    raise _error(
                        "enable controllers in cgroup.subtree_control",
                        own,
                        err2,
                        _busy_hint(err2, own),
                    ) from err2
        _mkdir_parent(self._ops, self._parent)
        try:
            self._enable(self._parent, enable)
        except OSError as err:
            raise _error("enable controllers in cgroup.subtree_control", self._parent, err) from err

    def _enable(self, group: str, enable: str) -> None:
        _write(f"{group}/cgroup.subtree_control", enable)

    def _move_self_to_leaf(self) -> None:
        leaf = f"{self._delegated}/{SUPERVISOR_LEAF}"
        try:
            self._ops.mkdir(leaf)
        except FileExistsError:
            pass
        except OSError as err:
            raise _error("create the supervisor leaf cgroup", leaf, err) from err
        try:
            _write(f"{leaf}/cgroup.procs", str(self._ops.getpid()))
        except OSError as err:
            raise _error("move the daemon into its leaf cgroup", leaf, err) from err
        log.info("moved pid %d into %s (no internal processes rule)", self._ops.getpid(), leaf)

    def _dir(self, name: str) -> str:
        return f"{self._parent}/{name}"

    def create(self, name: str, limits: CgroupLimits) -> None:
        group = self._dir(name)
        path = group
        try:
            self._ops.mkdir(group)
        except OSError as err:
            raise _error(f"create v2 cgroup {name}", group, err) from err
        writes: list[tuple[str, str, bool]] = []  # (file, value, optional)
        if self.owns("memory"):
            writes += [
                ("memory.max", str(limits.memory_max_bytes), False),
                ("memory.swap.max", "0", True),
                ("memory.oom.group", "1", False),
            ]
        if self.owns("cpu"):
            writes.append(("cpu.max", f"{limits.cpu_quota_us} {limits.cpu_period_us}", False))
        if self.owns("pids"):
            writes.append(("pids.max", str(limits.pids_max), False))
        try:
            for filename, value, optional in writes:
                path = f"{group}/{filename}"
                try:
                    _write(path, value)
                except FileNotFoundError:
                    if not optional:
                        raise
        except OSError as err:
            _rollback(self._ops, [group])
            raise _error(f"create v2 cgroup {name}", path, err) from err

    def procs_files(self, name: str) -> list[str]:
        return [f"{self._dir(name)}/cgroup.procs"]

    def _read_file(self, name: str, filename: str) -> str:
        path = f"{self._dir(name)}/{filename}"
        try:
            return _read(path)
        except OSError as err:
            raise _error(f"read {filename}", path, err) from err

    def memory_peak_bytes(self, name: str) -> int:
        # memory.peak exists since Linux 5.19; memory.current is a lower bound before that.
        try:
            return int(_read(f"{self._dir(name)}/memory.peak"))
        except FileNotFoundError:
            return int(self._read_file(name, "memory.current"))
        except OSError as err:
            raise _error("read memory.peak", self._dir(name), err) from err

    def oom_kill_count(self, name: str) -> int:
        return parse_flat_keyed(self._read_file(name, "memory.events")).get("oom_kill", 0)

    def cpu_usage_ns(self, name: str) -> int:
        return parse_flat_keyed(self._read_file(name, "cpu.stat")).get("usage_usec", 0) * 1000

    def pids(self, name: str) -> set[int]:
        return _read_pids(self.procs_files(name)[0])

    def populated(self, name: str) -> bool:
        try:
            events = parse_flat_keyed(_read(f"{self._dir(name)}/cgroup.events"))
        except FileNotFoundError:
            return False
        return events.get("populated", 0) == 1

    def kill_all_at_once(self, name: str) -> bool:
        # cgroup.kill (Linux 5.14) SIGKILLs every process, forks in flight included.
        path = f"{self._dir(name)}/cgroup.kill"
        try:
            _write(path, "1")
        except FileNotFoundError:
            return False
        except OSError as err:
            raise _error("write cgroup.kill", path, err) from err
        return True

    def freeze(self, name: str, frozen: bool) -> bool:
        path = f"{self._dir(name)}/cgroup.freeze"
        try:
            _write(path, "1" if frozen else "0")
        except FileNotFoundError:
            return False
        except OSError as err:
            raise _error("write cgroup.freeze", path, err) from err
        return True

    def destroy(self, name: str) -> list[SandboxSetupError]:
        return _rmdir_all(self._ops, [self._dir(name)], f"remove cgroup {name}")

    def children(self) -> set[str]:
        return _subdirs(self._parent)

    def remove_parent(self) -> None:
        errors = _rmdir_all(self._ops, [self._parent], "remove the parent cgroup")
        if errors:
            raise errors[0] from errors[0].__cause__


def _busy_hint(err: OSError, own: str) -> str:
    if err.errno == errno.EBUSY:
        return (
            f"other processes live in {own}: the daemon must be alone in its delegated cgroup "
            "(no internal processes rule)"
        )
    return _hint(err)


# ---------------------------------------------------------------------------------------------
# facade


class Cgroups:
    """The sandbox groups of one daemon: ``<parent_name>/<name>`` in every hierarchy in use.

    Build it with ``detect``. Methods are blocking file operations (tens to hundreds of us;
    ``kill_all`` may sleep up to ~2 s) and keep no state, so they may run in worker threads.
    """

    def __init__(
        self,
        *,
        parent_name: str,
        v1: _V1Driver | None,
        v2: _V2Driver | None,
        ops: HostOps,
    ) -> None:
        self.parent_name = parent_name
        self._v1 = v1
        self._v2 = v2
        self._ops = ops
        self._drivers: list[_Driver] = [d for d in (v1, v2) if d is not None]
        self._memory = self._owner("memory")
        self._usage: _Driver | None = v1 if v1 is not None and v1.owns("cpuacct") else v2

    def _owner(self, controller: str) -> _Driver:
        return next(d for d in self._drivers if d.owns(controller))

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
        try:
            mounts = parse_mountinfo(mountinfo.read_text())
        except OSError as err:
            raise _error("read mountinfo", str(mountinfo), err) from err
        v1_mounts = {c: m for c, m in mounts.v1.items() if c in _V1_CONTROLLERS}
        v2_wanted = tuple(c for c in REQUIRED_CONTROLLERS if c not in v1_mounts)
        v1 = _V1Driver(parent_name=parent_name, mounts=v1_mounts, ops=ops) if v1_mounts else None
        v2 = None
        if v2_wanted:
            delegated = _delegated_v2_path(mounts, proc_self_cgroup, v2_wanted)
            v2 = _V2Driver(
                parent_name=parent_name,
                delegated=delegated,
                is_mount_root=delegated == str(mounts.v2) and mounts.v2_root == "/",
                controllers=v2_wanted,
                ops=ops,
            )
        if "cpuacct" not in v1_mounts and v2 is None:
            raise SandboxSetupError(
                "no way to read CPU usage: cpu is a v1 controller but cpuacct is not mounted",
                str(mountinfo),
                "mount the cpuacct hierarchy (mount -t cgroup -o cpuacct ...)",
            )
        return cls(parent_name=parent_name, v1=v1, v2=v2, ops=ops)

    def describe(self) -> dict[str, str]:
        """controller -> ``"v1:<parent dir>"`` / ``"v2:<parent dir>"``, for logs and docs."""
        described: dict[str, str] = {}
        for driver in self._drivers:
            described.update(driver.describe())
        return described

    def prepare(self) -> None:
        """Create the parent group(s) and, on v2, enable the controllers below them. Idempotent."""
        for driver in self._drivers:
            driver.prepare()

    def create(self, name: str, limits: CgroupLimits) -> None:
        """Create group ``name`` in every hierarchy and write its limits; all or nothing."""
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

    def procs_files(self, name: str) -> list[str]:
        """Every cgroup.procs a process writes its pid into to join ``name`` (one per hierarchy)."""
        _check_name(name)
        return [path for driver in self._drivers for path in driver.procs_files(name)]

    def join(self, name: str, pid: int) -> None:
        """Move process ``pid`` (all its threads) into group ``name`` in every hierarchy."""
        for path in self.procs_files(name):
            try:
                _write(path, str(pid))
            except OSError as err:
                raise _error(f"move pid {pid} into cgroup {name}", path, err) from err

    def memory_peak_bytes(self, name: str) -> int:
        """Highest memory use since creation: v1 max_usage_in_bytes, v2 memory.peak (or current)."""
        _check_name(name)
        return self._memory.memory_peak_bytes(name)

    def oom_kill_count(self, name: str) -> int:
        """Processes the kernel OOM-killed in the group (0 when the kernel does not say)."""
        _check_name(name)
        return self._memory.oom_kill_count(name)

    def cpu_usage_ns(self, name: str) -> int:
        """CPU time used by the group: v1 cpuacct.usage, v2 cpu.stat usage_usec."""
        _check_name(name)
        assert self._usage is not None  # detect() guarantees a source
        return self._usage.cpu_usage_ns(name)

    def pids(self, name: str) -> set[int]:
        """Processes in the group, over all hierarchies; empty if the group does not exist."""
        _check_name(name)
        found: set[int] = set()
        for driver in self._drivers:
            found |= driver.pids(name)
        return found

    def populated(self, name: str) -> bool:
        """Whether any process is still in the group (False if it does not exist)."""
        _check_name(name)
        return any(driver.populated(name) for driver in self._drivers)

    def kill_all(self, name: str, *, max_rounds: int = 100) -> None:
        """SIGKILL every process in the group and wait until it is empty.

        Per round: v2 ``cgroup.kill`` when the kernel has it; else freeze (v1 freezer, or v2
        cgroup.freeze), SIGKILL every pid, thaw, so a fork bomb cannot outrun the loop (a frozen
        task cannot fork or exit, so no pid is reused under us; without any freezer that race
        is only narrowed). Sleeps between rounds (up to 20 ms each): call it off the event loop.
        """
        _check_name(name)
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be at least 1, got {max_rounds}")
        for round_no in range(max_rounds):
            if not self.pids(name):
                return
            self._kill_round(name)
            self._ops.sleep(min(0.001 * (round_no + 1), 0.02))
        left = self.pids(name)
        if left:
            raise SandboxSetupError(
                f"{len(left)} processes survived {max_rounds} kill rounds in cgroup {name}",
                self.procs_files(name)[0],
                "they may be in uninterruptible sleep (D state); retry kill_all later",
            )

    def _kill_round(self, name: str) -> None:
        if self._v2 is not None and self._v2.kill_all_at_once(name):
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
        errors = [error for driver in self._drivers for error in driver.destroy(name)]
        if errors:
            raise errors[0] from errors[0].__cause__

    def children(self) -> list[str]:
        """Names of the groups under the parent in any hierarchy (start-up sweep)."""
        names: set[str] = set()
        for driver in self._drivers:
            names |= driver.children()
        return sorted(names)

    def remove_parent(self) -> None:
        """Remove the parent group(s) at daemon stop; a parent that still has groups is kept."""
        left = self.children()
        if left:
            log.warning(
                "not removing cgroup parent %s: %d groups left", self.parent_name, len(left)
            )
            return
        for driver in self._drivers:
            driver.remove_parent()


def _delegated_v2_path(
    mounts: CgroupMounts, proc_self_cgroup: Path, wanted: tuple[str, ...]
) -> str:
    if mounts.v2 is None:
        raise SandboxSetupError(
            f"no cgroup hierarchy carries {', '.join(wanted)}",
            "/proc/self/mountinfo",
            "mount cgroup2 (or the v1 hierarchies) and enable the controllers in the kernel",
        )
    try:
        available = set(_read(f"{mounts.v2}/cgroup.controllers").split())
        own = parse_own_cgroup(proc_self_cgroup.read_text())
    except OSError as err:
        raise _error("read the unified hierarchy", str(mounts.v2), err) from err
    missing = [c for c in wanted if c not in available]
    if missing:
        raise SandboxSetupError(
            f"controllers {', '.join(missing)} are neither v1-mounted nor in the unified hierarchy",
            f"{mounts.v2}/cgroup.controllers",
            "they may be bound to an unmounted v1 hierarchy; check the kernel and mounts",
        )
    if own is None:
        raise SandboxSetupError(
            "no 0:: line (unified hierarchy) in /proc/self/cgroup", str(proc_self_cgroup), None
        )
    # The mount may show only a subtree of the hierarchy (bind mount in a container).
    root = mounts.v2_root.rstrip("/")
    if root and (own == root or own.startswith(root + "/")):
        own = own[len(root) :] or "/"
    parts = [p for p in own.split("/") if p]
    if parts and parts[-1] == SUPERVISOR_LEAF:
        parts.pop()
    return "/".join([str(mounts.v2).rstrip("/"), *parts]) if parts else str(mounts.v2)
