"""Dropping every privilege before user code runs (child side).

Order matters: the bounding set needs CAP_SETPCAP, so it goes first; setresuid to a non-zero
uid then clears the permitted and effective sets; capset clears what is left (inheritable);
no_new_privs makes sure nothing (setuid binaries, file capabilities) can give them back.
"""

from __future__ import annotations

import os
import resource

from sandbox import _syscalls as sc


def highest_capability() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return 40  # CAP_CHECKPOINT_RESTORE on 5.9+; dropping unknown caps is harmless


def drop_bounding_set(*, last_cap: int | None = None) -> None:
    """Empty the capability bounding and ambient sets; the effective set is untouched, so a
    stem can still mount and change uid until it is specialized."""
    top = highest_capability() if last_cap is None else last_cap
    for cap in range(top + 1):
        sc.prctl(sc.PR_CAPBSET_DROP, cap)
    sc.prctl(sc.PR_CAP_AMBIENT, sc.PR_CAP_AMBIENT_CLEAR_ALL)


def become_unprivileged(*, uid: int, gid: int) -> None:
    """Become `uid`/`gid` with no capabilities and no way to regain them. The bounding set
    must already be empty (`drop_bounding_set`)."""
    if uid == 0 or gid == 0:
        raise ValueError("refusing to run sandbox code as root")
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    sc.clear_capability_sets()
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)


def drop_child_privileges(*, uid: int, gid: int, last_cap: int | None = None) -> None:
    """Both steps at once."""
    drop_bounding_set(last_cap=last_cap)
    become_unprivileged(uid=uid, gid=gid)


def set_child_rlimits(*, nofile: int) -> None:
    """Lambda's quotas: 1,024 file descriptors; no core dumps (they could leak secrets)."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
