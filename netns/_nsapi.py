"""The few namespace syscalls Python 3.11 lacks (unshare, setns, bind mounts), for netns/.

`sandbox/` has its own copy of these wrappers: the two packages never import each other
(ARCHITECTURE.md), and this is all the overlap there is.
"""

from __future__ import annotations

import ctypes
import os
from typing import Final

_libc = ctypes.CDLL(None, use_errno=True)

CLONE_NEWNET: Final = 0x40000000
MS_BIND: Final = 4096
MNT_DETACH: Final = 2


def _check(ret: int, what: str, path: str | None = None) -> None:
    if ret == -1:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}", path)


def unshare_net() -> None:
    """Move the *calling thread* into a new network namespace."""
    _check(_libc.unshare(ctypes.c_int(CLONE_NEWNET)), "unshare(CLONE_NEWNET)")


def setns_net(fd: int) -> None:
    """Move the *calling thread* into the network namespace `fd` refers to."""
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(CLONE_NEWNET)), "setns(CLONE_NEWNET)")


def bind_mount(source: str, target: str) -> None:
    ret = _libc.mount(source.encode(), target.encode(), None, ctypes.c_ulong(MS_BIND), None)
    _check(ret, "mount --bind", target)


def umount_detach(target: str) -> None:
    _check(_libc.umount2(target.encode(), ctypes.c_int(MNT_DETACH)), "umount2", target)
