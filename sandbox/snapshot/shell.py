"""An environment shell: the namespaces one environment of a template will live in, made
ahead of the clone by the template's init (root) and owned by no process of the function.

    init (root)                    helper (template uid)            shell pid 1 (reaper)
    fork ────────────────────────► dumpable, unshare(user) ────────
    write uid_map/gid_map: the
    environment's uid and gid
    only ────────────────────────► unshare(net, mnt, uts, ipc, pid),
                                   fork ──────────────────────────► (pid 1 of the new pid
    write its pid to the                                             namespace)
    environment's cgroups ─────────────────────────────────────────► unshare(cgroup), private
                                                                     mounts, a fresh /proc
                                                                     with host state masked,
                                                                     /tmp, hostname, loopback
                                                                     up, no capabilities left;
                                                                     then it only reaps

The user namespace is owned by the template's uid (so that a clone of the template, and only
it, may enter it: `sandbox.snapshot.restore`), maps nothing but the environment's uid and
gid, and every other namespace belongs to it. A fresh /proc may be mounted there because the
template's mount namespace keeps one unmasked /proc out of every sandbox uid's reach
(`rootfs.HIDDEN_PROC`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox import _syscalls as sc
from sandbox.netdev import bring_up_loopback
from sandbox.rootfs import configure_child_proc, tmp_options

CLONE_NEWUSER = 0x10000000
_SHELL_NAMESPACES = (
    sc.CLONE_NEWNET | sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC | sc.CLONE_NEWPID
)
_MOUNT_FLAGS = sc.MS_NOSUID | sc.MS_NODEV


@dataclass(frozen=True, slots=True, kw_only=True)
class ShellSpec:
    owner_uid: int  # the template's uid
    owner_gid: int
    uid: int  # the environment's
    gid: int
    hostname: str
    tmp_size_mb: int


def make_shell(spec: ShellSpec, *, cgroup_procs: Sequence[int]) -> int:
    """Build a shell; the pid of its pid 1 (in the caller's pid namespace)."""
    to_helper_r, to_helper_w = os.pipe2(os.O_CLOEXEC)
    from_helper_r, from_helper_w = os.pipe2(os.O_CLOEXEC)
    helper = os.fork()
    if helper == 0:
        os.close(to_helper_w)
        os.close(from_helper_r)
        _run_helper(spec, commands=to_helper_r, reports=from_helper_w)
    os.close(to_helper_r)
    os.close(from_helper_w)
    try:
        _expect(from_helper_r, b"u", helper)
        _write(f"/proc/{helper}/uid_map", f"{spec.uid} {spec.uid} 1\n")
        _write(f"/proc/{helper}/gid_map", f"{spec.gid} {spec.gid} 1\n")
        os.write(to_helper_w, b"m")
        reaper = int(_expect(from_helper_r, b"p", helper)[1:])
        for procs in cgroup_procs:
            os.pwrite(procs, str(reaper).encode(), 0)
        os.write(to_helper_w, b"c")
        _expect(from_helper_r, b"r", helper)
    except BaseException:
        os.kill(helper, 9)
        raise
    finally:
        os.close(to_helper_w)
        os.close(from_helper_r)
        os.waitpid(helper, 0)
    return reaper


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


def _expect(fd: int, tag: bytes, helper: int) -> bytes:
    got = os.read(fd, 256)
    if not got.startswith(tag):
        reason = got[1:].decode(errors="replace") if got.startswith(b"!") else "it ended"
        raise OSError(0, f"environment shell (helper {helper}): {reason}")
    return got


def _run_helper(spec: ShellSpec, *, commands: int, reports: int) -> None:
    """The helper, then (after its fork) the shell's pid 1. Never returns."""
    try:
        os.setgroups([])
        os.setresgid(spec.owner_gid, spec.owner_gid, spec.owner_gid)
        os.setresuid(spec.owner_uid, spec.owner_uid, spec.owner_uid)
        sc.prctl(sc.PR_SET_DUMPABLE, 1)  # the template's clone opens our namespaces
        sc.unshare(CLONE_NEWUSER)
        os.write(reports, b"u")
        if os.read(commands, 1) != b"m":
            os._exit(1)
        sc.unshare(_SHELL_NAMESPACES)
        reaper = os.fork()
        if reaper == 0:
            _run_reaper(spec, commands=commands, reports=reports)
        os.write(reports, b"p%d" % reaper)
        os._exit(0)
    except BaseException as exc:
        _fail(reports, exc)


def _run_reaper(spec: ShellSpec, *, commands: int, reports: int) -> None:
    try:
        sc.prctl(sc.PR_SET_DUMPABLE, 1)
        if os.read(commands, 1) != b"c":
            os._exit(1)
        sc.unshare(sc.CLONE_NEWCGROUP)  # joined by init: the environment's group is its /
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        configure_child_proc("")
        sc.mount("lambdalet", "/tmp", "tmpfs", _MOUNT_FLAGS, tmp_options(spec.tmp_size_mb))
        sc.sethostname(spec.hostname)
        bring_up_loopback()
        sc.clear_capability_sets()
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        os.write(reports, b"r")
        os.close(reports)
        os.close(commands)
    except BaseException as exc:
        _fail(reports, exc)
    while True:
        try:
            os.wait()
        except ChildProcessError:
            time.sleep(3600)
        except InterruptedError:
            continue


def _fail(reports: int, exc: BaseException) -> None:
    try:
        os.write(reports, b"!" + f"{type(exc).__name__}: {exc}".encode()[:200])
    finally:
        os._exit(1)
