"""The sandbox's root filesystem: pure mount plans, and the child-side code that applies them.

Two phases, both in the sandbox's own mount namespace, as root, before any user code:

* `prepare_child_rootfs()` (stem time, ahead of demand): private propagation, a tmpfs as
  the new root, read-only binds of the host's system directories, /etc copied into the root
  (a bind would show the state directory's path in /proc/self/mountinfo), a minimal /dev,
  /tmp, a fresh /proc with host state masked; then `pivot_root` into it, the old root
  detached and / made read-only. Unmounting the old root waits for an RCU grace
  period (milliseconds), which is why it happens here and not on a cold start.
* `finish_child_rootfs()` (specialization): attach the runtime at /var/runtime, the
  function's code at /var/task and its merged layers (if any) at /opt, over the stem's empty
  read-only tmpfs, from detached, read-only, nosuid, nodev mounts the spawner cloned with
  ``open_tree`` (``move_mount``: no unmount, no host path needed), and resize /tmp if the
  function asks for another size. Stems are therefore the same for every runtime.

Nothing is mounted in the host's namespace: every mount dies with the sandbox's mount
namespace when its last process exits.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from typing import Final

from sandbox import _syscalls as sc
from sandbox.errors import SandboxSetupError
from sandbox.spec import OPT_DIR, RUNTIME_DIR, TASK_ROOT, SandboxSpec, StemSpec

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
# runc's and Docker's masked paths, and the host-wide state they leave readable that a
# function has no business reading: the boot command line, the uids of the users holding keys
# (other sandboxes), interrupt counts, the kernel's configuration, the physical memory and I/O
# maps, kernel symbols and modules.
MASKED_FILES: Final = (
    "/proc/kcore",
    "/proc/keys",
    "/proc/key-users",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/sysrq-trigger",
    "/proc/cmdline",
    "/proc/interrupts",
    "/proc/softirqs",
    "/proc/config.gz",
    "/proc/iomem",
    "/proc/ioports",
    "/proc/kallsyms",
    "/proc/modules",
    "/proc/vmallocinfo",
)
MASKED_DIRS: Final = ("/proc/acpi", "/proc/scsi", "/proc/asound", "/proc/sysvipc", "/proc/driver")
READONLY_PROC: Final = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys")
OLD_ROOT: Final = "/.old_root"
# Templates only: an unmasked /proc behind a root-only directory. Its presence is what lets an
# environment shell (a user namespace) mount a /proc of its own (the kernel's
# mount_too_revealing rule); no sandbox uid can reach it.
HIDDEN_PROC_DIR: Final = "/.lambdalet"
HIDDEN_PROC: Final = HIDDEN_PROC_DIR + "/proc"
# The root holds mount points, symlinks and /etc's few files (a passwd line per sandbox uid).
ROOT_TMPFS_OPTIONS: Final = "size=4m,mode=755"
DEFAULT_TMP_MB: Final = 512  # stems mount /tmp at Lambda's default; others remount it
CODE_MOUNT_ATTRS: Final = sc.MOUNT_ATTR_RDONLY | sc.MOUNT_ATTR_NOSUID | sc.MOUNT_ATTR_NODEV

_RO: Final = sc.MS_RDONLY | sc.MS_NOSUID | sc.MS_NODEV
_TMP_FLAGS: Final = sc.MS_NOSUID | sc.MS_NODEV


@dataclass(frozen=True, slots=True)
class Bind:
    source: str  # host path
    target: str  # path inside the sandbox
    readonly: bool = True


@dataclass(frozen=True, slots=True)
class Tmpfs:
    target: str
    options: str  # e.g. "size=512m,mode=1777"
    flags: int = _TMP_FLAGS


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
class Mkdir:
    target: str


@dataclass(frozen=True, slots=True)
class CopyFiles:
    """The regular files of a host directory, copied (mode 0644) into the sandbox's root."""

    source: str  # host directory
    target: str


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


MountOp = Bind | Tmpfs | Symlink | Device | Mkdir | CopyFiles


def tmp_options(size_mb: int) -> str:
    return f"size={size_mb}m,mode=1777"


def plan_stem_rootfs(stem: StemSpec, host: HostLayout) -> list[MountOp]:
    """Everything every sandbox sees, whatever function it becomes."""
    ops: list[MountOp] = [Bind(d, d) for d in host.dirs]
    ops += [Symlink(path, to) for path, to in host.links]
    ops += [
        CopyFiles(stem.etc_dir, "/etc"),
        Mkdir(RUNTIME_DIR),  # the runtime's files are attached here at specialization
        # Empty unless the function has layers: their merged tree is attached over it.
        Tmpfs(OPT_DIR, "size=16k,mode=755", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_RDONLY),
        Mkdir(TASK_ROOT),  # the function's code is attached here at specialization
        Tmpfs("/tmp", tmp_options(DEFAULT_TMP_MB)),
        Mkdir("/proc"),
        Mkdir(OLD_ROOT),
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
        case Mkdir():
            os.makedirs(target, exist_ok=True)
        case CopyFiles():
            os.makedirs(target, exist_ok=True)
            with os.scandir(op.source) as entries:
                for entry in entries:
                    if entry.is_file(follow_symlinks=False) and not entry.name.startswith("."):
                        with open(entry.path, "rb") as src:
                            data = src.read()
                        fd = os.open(f"{target}/{entry.name}", os.O_WRONLY | os.O_CREAT, 0o644)
                        try:
                            os.write(fd, data)
                            os.fchmod(fd, 0o644)
                        finally:
                            os.close(fd)


def prepare_child_rootfs(stem: StemSpec, host: HostLayout) -> None:
    """Stem phase: assemble the new root under ``stem.rootfs_dir``, enter it, seal it."""
    root = stem.rootfs_dir
    # No mount event may travel between the host and the sandbox, in either direction.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    sc.mount("lambdalet", root, "tmpfs", sc.MS_NOSUID | sc.MS_NODEV, ROOT_TMPFS_OPTIONS)
    for op in plan_stem_rootfs(stem, host):
        _apply(root, op)
    configure_child_proc(root)
    sc.pivot_root(root, root + OLD_ROOT)
    os.chdir("/")
    sc.umount2(OLD_ROOT, sc.MNT_DETACH)
    os.rmdir(OLD_ROOT)
    if stem.template:
        os.mkdir(HIDDEN_PROC_DIR, 0o700)
        os.mkdir(HIDDEN_PROC, 0o000)
        sc.mount("proc", HIDDEN_PROC, "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    sc.mount(None, "/", None, sc.MS_REMOUNT | _RO)


def finish_child_rootfs(
    spec: SandboxSpec, *, code_tree_fd: int, runtime_tree_fd: int, opt_tree_fd: int | None = None
) -> None:
    """Specialization: attach the runtime, the function's code and its layers; size /tmp."""
    if (opt_tree_fd is not None) != bool(spec.opt_dir):
        raise ValueError("an /opt tree comes with spec.opt_dir, and only then")
    sc.move_mount_fd(runtime_tree_fd, RUNTIME_DIR)
    sc.move_mount_fd(code_tree_fd, TASK_ROOT)
    if opt_tree_fd is not None:
        sc.move_mount_fd(opt_tree_fd, OPT_DIR)  # on top of the stem's empty tmpfs
    if spec.tmp_size_mb != DEFAULT_TMP_MB:
        sc.mount(None, "/tmp", None, sc.MS_REMOUNT | _TMP_FLAGS, tmp_options(spec.tmp_size_mb))


def clone_tree(host_dir: str) -> int:
    """Host side (spawner): a detached read-only, nosuid, nodev copy of `host_dir` (code,
    runtime or merged layers) for `move_mount`."""
    fd = sc.open_tree_clone(host_dir)
    try:
        sc.mount_setattr_fd(fd, CODE_MOUNT_ATTRS)
    except BaseException:
        os.close(fd)
        raise
    return fd


def check_mount_api(path: str = "/") -> None:
    """Host side, at start-up: the kernel must offer open_tree, mount_setattr, move_mount."""
    try:
        os.close(clone_tree(path))
    except OSError as exc:
        raise SandboxSetupError(
            "clone a mount with open_tree/mount_setattr",
            path,
            "lambdalet needs Linux 5.12 or newer (the new mount API)",
        ) from exc


def configure_child_proc(root: str) -> None:
    """Mount a fresh /proc for the sandbox's pid namespace and mask host kernel state."""
    proc = root + "/proc"
    sc.mount("proc", proc, "proc", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    null = root + "/dev/null"
    for path in MASKED_FILES:
        if os.path.exists(root + path):
            sc.mount(null, root + path, None, sc.MS_BIND)
    for path in MASKED_DIRS:
        if os.path.isdir(root + path):
            sc.mount("lambdalet", root + path, "tmpfs", _RO, "size=0")
    for path in READONLY_PROC:
        if os.path.exists(root + path):
            sc.mount(root + path, root + path, None, sc.MS_BIND | sc.MS_REC)
            sc.mount(None, root + path, None, sc.MS_REMOUNT | sc.MS_BIND | _RO)
