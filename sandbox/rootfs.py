"""The sandbox's root filesystem: a pure mount plan, and the child-side code that applies it.

`plan_rootfs()` says what the sandbox sees; `configure_child_rootfs()` runs in the sandbox's
fresh mount namespace (as root, before privileges are dropped) and applies the plan, then
`pivot_root`s into it and detaches the old root. Nothing is mounted in the host namespace:
every mount dies with the sandbox's mount namespace when its last process exits.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Final

from sandbox import _syscalls as sc
from sandbox.spec import OPT_DIR, RUNTIME_DIR, TASK_ROOT, SandboxSpec

HOST_SYSTEM_DIRS: Final = ("/usr", "/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32")
# The only device nodes a sandbox gets (major, minor): mknod is cheaper than bind mounts.
DEVICES: Final = {
    "null": (1, 3),
    "zero": (1, 5),
    "full": (1, 7),
    "random": (1, 8),
    "urandom": (1, 9),
    "tty": (5, 0),
}
# runc's masked paths: kernel state a function has no business reading.
MASKED_FILES: Final = (
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/sysrq-trigger",
)
MASKED_DIRS: Final = ("/proc/acpi", "/proc/scsi", "/proc/asound")
READONLY_PROC: Final = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys")

_RO: Final = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV


@dataclass(frozen=True, slots=True)
class Bind:
    source: str  # host path
    target: str  # path inside the sandbox
    readonly: bool = True


@dataclass(frozen=True, slots=True)
class Tmpfs:
    target: str
    options: str  # e.g. "size=512m,mode=1777"
    flags: int = sc.MS_NOSUID | sc.MS_NODEV


@dataclass(frozen=True, slots=True)
class Device:
    target: str
    major: int
    minor: int


@dataclass(frozen=True, slots=True)
class Symlink:
    target: str  # path of the link inside the sandbox
    points_to: str


@dataclass(frozen=True, slots=True)
class HostLayout:
    """Facts about the host read once by the spawner: which system dirs exist, and how."""

    dirs: tuple[str, ...]  # real directories to bind
    links: tuple[tuple[str, str], ...]  # (path, link target) for merged-/usr symlinks

    @classmethod
    def inspect(cls) -> HostLayout:
        dirs, links = [], []
        for path in HOST_SYSTEM_DIRS:
            if os.path.islink(path):
                links.append((path, os.readlink(path)))
            elif os.path.isdir(path):
                dirs.append(path)
        return cls(dirs=tuple(dirs), links=tuple(links))


MountOp = Bind | Tmpfs | Symlink | Device


def plan_rootfs(spec: SandboxSpec, host: HostLayout) -> list[MountOp]:
    """Return the mounts that make up the sandbox's view, in the order they are applied."""
    ops: list[MountOp] = [Bind(d, d) for d in host.dirs]
    ops += [Symlink(path, to) for path, to in host.links]
    ops += [
        Bind(spec.etc_dir, "/etc"),
        Bind(spec.code_dir, TASK_ROOT),
        Bind(spec.runtime_dir, RUNTIME_DIR),
        Tmpfs(OPT_DIR, "size=16k,mode=755", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_RDONLY),
        Tmpfs("/tmp", f"size={spec.tmp_size_mb}m,mode=1777"),
        Tmpfs("/dev", "size=64k,mode=755", sc.MS_NOSUID | sc.MS_NOEXEC),
    ]
    ops += [Device(f"/dev/{name}", major, minor) for name, (major, minor) in DEVICES.items()]
    ops += [
        Tmpfs("/dev/shm", "size=64m,mode=1777", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC),
        Symlink("/dev/fd", "/proc/self/fd"),
        Symlink("/dev/stdin", "/proc/self/fd/0"),
        Symlink("/dev/stdout", "/proc/self/fd/1"),
        Symlink("/dev/stderr", "/proc/self/fd/2"),
    ]
    return ops


def _apply(root: str, op: MountOp) -> None:
    target = root + op.target
    match op:
        case Bind():
            if os.path.isdir(op.source):
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target), exist_ok=True)
                os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
            sc.mount(op.source, target, None, sc.MS_BIND | sc.MS_REC)
            if op.readonly:
                sc.mount(None, target, None, sc.MS_REMOUNT | sc.MS_BIND | _RO)
        case Tmpfs():
            os.makedirs(target, exist_ok=True)
            sc.mount("lambdalet", target, "tmpfs", op.flags, op.options)
        case Device():
            os.mknod(target, 0o666 | stat.S_IFCHR, os.makedev(op.major, op.minor))
            os.chmod(target, 0o666)  # mknod honours the umask
        case Symlink():
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(op.points_to, target)


def configure_child_rootfs(spec: SandboxSpec, host: HostLayout) -> None:
    """Build the new root and pivot into it. Runs in the child's own mount namespace."""
    root = spec.rootfs_dir
    # No mount event may travel between the host and the sandbox, in either direction.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.mount("lambdalet", root, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, "size=64k,mode=755")
    for op in plan_rootfs(spec, host):
        _apply(root, op)
    os.makedirs(root + "/proc")
    os.makedirs(root + "/.old_root")
    sc.pivot_root(root, root + "/.old_root")
    os.chdir("/")
    sc.umount2("/.old_root", sc.MNT_DETACH)
    os.rmdir("/.old_root")
    configure_child_proc()
    # The skeleton (mount points, symlinks) is done: make / itself read-only.
    sc.mount(None, "/", None, sc.MS_REMOUNT | _RO)


def configure_child_proc() -> None:
    """Mount a fresh /proc for the sandbox's pid namespace and mask host kernel state."""
    sc.mount("proc", "/proc", "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    for path in MASKED_FILES:
        if os.path.exists(path):
            sc.mount("/dev/null", path, None, sc.MS_BIND)
    for path in MASKED_DIRS:
        if os.path.isdir(path):
            sc.mount("lambdalet", path, "tmpfs", _RO, "size=0")
    for path in READONLY_PROC:
        if os.path.exists(path):
            sc.mount(path, path, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(None, path, None, sc.MS_REMOUNT | sc.MS_BIND | _RO)
