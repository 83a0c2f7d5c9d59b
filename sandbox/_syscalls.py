"""Raw Linux syscalls Python 3.11 lacks (unshare, setns, mount, pivot_root, capset, prctl).

Thin ctypes wrappers that raise `OSError` with errno set; nothing else lives here. Used only
by the spawner and its children (never in the Trio process).
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNS: Final = 0x00020000
CLONE_NEWCGROUP: Final = 0x02000000
CLONE_NEWUTS: Final = 0x04000000
CLONE_NEWIPC: Final = 0x08000000
CLONE_NEWPID: Final = 0x20000000
CLONE_NEWNET: Final = 0x40000000

MS_RDONLY: Final = 1
MS_NOSUID: Final = 2
MS_NODEV: Final = 4
MS_NOEXEC: Final = 8
MS_REMOUNT: Final = 32
MS_BIND: Final = 4096
MS_REC: Final = 16384
MS_PRIVATE: Final = 1 << 18
MNT_DETACH: Final = 2

PR_SET_PDEATHSIG: Final = 1
PR_SET_DUMPABLE: Final = 4
PR_CAPBSET_DROP: Final = 24
PR_SET_CHILD_SUBREAPER: Final = 36
PR_SET_NO_NEW_PRIVS: Final = 38
PR_CAP_AMBIENT: Final = 47
PR_CAP_AMBIENT_CLEAR_ALL: Final = 4

_LINUX_CAPABILITY_VERSION_3: Final = 0x20080522
_SYS_pivot_root: Final = 155  # x86_64
_SYS_capset: Final = 126  # x86_64
_SYS_pivot_root_aarch64: Final = 41
_SYS_capset_aarch64: Final = 91


def _check(ret: int, what: str, path: str | None = None) -> None:
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(
    source: str | None, target: str, fstype: str | None, flags: int = 0, data: str | None = None
) -> None:
    ret = _libc.mount(
        None if source is None else source.encode(),
        target.encode(),
        None if fstype is None else fstype.encode(),
        ctypes.c_ulong(flags),
        None if data is None else data.encode(),
    )
    _check(ret, "mount", target)


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(flags)), "umount2", target)


def _machine_syscall(x86_64: int, aarch64: int) -> int:
    return aarch64 if os.uname().machine == "aarch64" else x86_64


def pivot_root(new_root: str, put_old: str) -> None:
    nr = _machine_syscall(_SYS_pivot_root, _SYS_pivot_root_aarch64)
    _check(_libc.syscall(nr, new_root.encode(), put_old.encode()), "pivot_root", new_root)


def prctl(option: int, arg2: int = 0, arg3: int = 0, arg4: int = 0, arg5: int = 0) -> None:
    ret = _libc.prctl(
        ctypes.c_int(option),
        ctypes.c_ulong(arg2),
        ctypes.c_ulong(arg3),
        ctypes.c_ulong(arg4),
        ctypes.c_ulong(arg5),
    )
    _check(ret, f"prctl({option})")


def sethostname(name: str) -> None:
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def clear_capability_sets() -> None:
    """Empty the effective, permitted and inheritable sets of the calling thread."""
    header = _CapHeader(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_CapData * 2)()
    nr = _machine_syscall(_SYS_capset, _SYS_capset_aarch64)
    _check(_libc.syscall(nr, ctypes.byref(header), ctypes.byref(data)), "capset")


# New mount API (Linux >= 5.12 for mount_setattr): one syscall number on every arch.
_SYS_open_tree: Final = 428
_SYS_move_mount: Final = 429
_SYS_mount_setattr: Final = 442
OPEN_TREE_CLONE: Final = 1
OPEN_TREE_CLOEXEC: Final = os.O_CLOEXEC
AT_EMPTY_PATH: Final = 0x1000
AT_RECURSIVE: Final = 0x8000
MOVE_MOUNT_F_EMPTY_PATH: Final = 0x4
MOUNT_ATTR_RDONLY: Final = 0x1
MOUNT_ATTR_NOSUID: Final = 0x2
MOUNT_ATTR_NODEV: Final = 0x4
_AT_FDCWD: Final = -100


class _MountAttr(ctypes.Structure):
    _fields_ = [
        ("attr_set", ctypes.c_uint64),
        ("attr_clr", ctypes.c_uint64),
        ("propagation", ctypes.c_uint64),
        ("userns_fd", ctypes.c_uint64),
    ]


def open_tree_clone(path: str) -> int:
    """A detached copy of the mount at `path` (a bind mount not yet attached anywhere)."""
    fd: int = _libc.syscall(
        _SYS_open_tree,
        ctypes.c_int(_AT_FDCWD),
        path.encode(),
        ctypes.c_uint(OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC),
    )
    _check(fd, "open_tree", path)
    return fd


def mount_setattr_fd(fd: int, attr_set: int) -> None:
    attr = _MountAttr(attr_set, 0, 0, 0)
    ret = _libc.syscall(
        _SYS_mount_setattr,
        ctypes.c_int(fd),
        b"",
        ctypes.c_uint(AT_EMPTY_PATH),
        ctypes.byref(attr),
        ctypes.c_size_t(ctypes.sizeof(attr)),
    )
    _check(ret, "mount_setattr")


def move_mount_fd(fd: int, target: str) -> None:
    """Attach the detached mount `fd` at `target` (in the caller's mount namespace)."""
    ret = _libc.syscall(
        _SYS_move_mount,
        ctypes.c_int(fd),
        b"",
        ctypes.c_int(_AT_FDCWD),
        target.encode(),
        ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH),
    )
    _check(ret, "move_mount", target)


# seccomp(2): install a filter on every thread of the calling process.
_SYS_seccomp: Final = 317  # x86_64
_SYS_seccomp_aarch64: Final = 277
SECCOMP_SET_MODE_FILTER: Final = 1
SECCOMP_FILTER_FLAG_TSYNC: Final = 1


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def install_seccomp_filter(program: bytes) -> None:
    """Install a classic-BPF seccomp filter (8-byte instructions) on every thread of this
    process. Needs no_new_privs (or CAP_SYS_ADMIN); filters stack and are inherited across
    fork, clone and execve, and can never be removed."""
    if not program or len(program) % 8:
        raise ValueError("a seccomp program is a non-empty sequence of 8-byte instructions")
    buffer = ctypes.create_string_buffer(program, len(program))
    prog = _SockFprog(len(program) // 8, ctypes.cast(buffer, ctypes.c_void_p))
    nr = _machine_syscall(_SYS_seccomp, _SYS_seccomp_aarch64)
    ret = _libc.syscall(
        nr,
        ctypes.c_uint(SECCOMP_SET_MODE_FILTER),
        ctypes.c_uint(SECCOMP_FILTER_FLAG_TSYNC),
        ctypes.byref(prog),
    )
    if ret > 0:  # TSYNC: the id of a thread that could not be synchronised
        raise OSError(0, f"seccomp: thread {ret} could not take the filter")
    _check(ret, "seccomp")
