"""Clone a held template into an environment shell, as a checklist of injected calls.

    template T (held)        C (a clone sharing T's memory)       E (the environment)
    clone(VM|PARENT) ───────► pidfd_open(shell), setns(pidfd,
                              user|mnt|net|uts|ipc|pid|cgroup)
                              empty the bounding set
                              clone(PARENT) ─────────────────────► (born in the shell's pid
                              killed                                namespace, stopped)
                                                                   init writes its pid to the
                                                                   environment's cgroups
                                                                   setgroups, setresgid,
                                                                   setresuid (the environment's
                                                                   ids), capset(0), the syscall
                                                                   filter, descriptors received
                                                                   and moved into place, every
                                                                   other inherited descriptor
                                                                   replaced by /dev/null,
                                                                   chdir /var/task, setsid;
                                                                   resumes in
                                                                   T's interrupted receive

No instruction of T's runs in C or in E before the last line: C only runs injected calls and
dies; E runs user code only once it is in its own namespaces and cgroups, as its own uid,
without capabilities, under the same filter as any sandbox.
"""

from __future__ import annotations

import os
import signal
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from sandbox.seccomp.numbers import X86_64 as NR
from sandbox.snapshot.ptrace import Tracee, TraceError, detach, wait_stop
from sandbox.spec import TASK_ROOT

CLONE_VM = 0x00000100
CLONE_PARENT = 0x00008000
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
SHELL_NAMESPACES = (
    CLONE_NEWUSER
    | CLONE_NEWNS
    | CLONE_NEWNET
    | CLONE_NEWUTS
    | CLONE_NEWIPC
    | CLONE_NEWPID
    | CLONE_NEWCGROUP
)
PR_CAPBSET_DROP = 24
PR_SET_NO_NEW_PRIVS = 38
SECCOMP_SET_MODE_FILTER = 1
MSG_CMSG_CLOEXEC = 0x40000000
MSG_DONTWAIT = 0x40  # the message is queued before the call: never wait for one
_CAP_VERSION_3 = 0x20080522
_MSGHDR = struct.Struct("<QI4xQQQQi4x")  # name, namelen, iov, iovlen, control, controllen, flags
_IOVEC = struct.Struct("<QQ")
_CMSG_HEADER = struct.Struct("<QII")  # len, level, type


@dataclass(frozen=True, slots=True, kw_only=True)
class Restore:
    """What one environment is made of."""

    shell_pid: int  # the shell's pid 1 (in the caller's pid namespace)
    uid: int
    gid: int
    cgroup_procs: Sequence[int]  # open cgroup.procs files the environment joins
    delivery_fd: int  # T's end of the socket its descriptors arrive on (already queued)
    targets: Sequence[int]  # where each delivered descriptor goes, in order
    filter_program: bytes  # the sandbox's syscall filter
    last_cap: int


def clone_environment(template: Tracee, job: Restore) -> int:
    """Make one environment of `job` from the held `template`; its pid (caller's view). The
    environment runs when this returns."""
    children: list[int] = []
    middle_pid = template.check(
        NR["clone"], CLONE_VM | CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0, what="clone"
    )
    template.resume_as(template.saved)
    try:
        _wait_born(middle_pid)
        middle = Tracee(middle_pid, on_child=children.append)
        env_pid = _enter_shell(middle, job)
    finally:
        _kill(middle_pid)
    try:
        _wait_born(env_pid)
        for procs in job.cgroup_procs:  # before it runs anything: accounted and limited
            os.pwrite(procs, str(env_pid).encode(), 0)
        env = Tracee(env_pid)
        _drop_privileges(env, job)
        _deliver(env, job, inherited=_descriptors(template.pid))
        env.check(NR["chdir"], _string(env, env.scratch, TASK_ROOT), what="chdir")
        env.check(NR["setsid"], what="setsid")  # its own session, as every runtime's
        env.resume_as(template.saved)
        detach(env_pid)
    except BaseException:
        _kill(env_pid)
        raise
    return env_pid


def _wait_born(pid: int) -> None:
    status = wait_stop(pid)
    if not os.WIFSTOPPED(status):
        raise TraceError(0, f"clone {pid} ended before it was set up ({status:#x})")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _string(t: Tracee, addr: int, text: str) -> int:
    t.write(addr, text.encode() + b"\0")
    return addr


def _enter_shell(middle: Tracee, job: Restore) -> int:
    pidfd = middle.check(NR["pidfd_open"], job.shell_pid, 0, what="pidfd_open")
    middle.check(NR["setns"], pidfd, SHELL_NAMESPACES, what="setns into the shell")
    middle.check(NR["close"], pidfd, what="close")
    # Entering a user namespace fills the bounding set; empty it as every sandbox's is.
    for cap in range(job.last_cap + 1):
        middle.check(NR["prctl"], PR_CAPBSET_DROP, cap, what="drop the bounding set")
    return middle.check(NR["clone"], CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0, what="clone")


def _drop_privileges(env: Tracee, job: Restore) -> None:
    env.check(NR["setgroups"], 0, 0, what="setgroups")
    env.check(NR["setresgid"], job.gid, job.gid, job.gid, what="setresgid")
    env.check(NR["setresuid"], job.uid, job.uid, job.uid, what="setresuid")
    header, data = env.scratch, env.scratch + 16
    env.write(header, struct.pack("<Ii", _CAP_VERSION_3, 0) + bytes(24))
    env.check(NR["capset"], header, data, what="capset")
    env.check(NR["prctl"], PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0, what="no_new_privs")
    program, fprog = env.scratch, env.scratch - 16
    env.write(program, job.filter_program)
    env.write(fprog, struct.pack("<H6xQ", len(job.filter_program) // 8, program))
    env.check(NR["seccomp"], SECCOMP_SET_MODE_FILTER, 0, fprog, what="seccomp")


def _descriptors(pid: int) -> list[int]:
    return sorted(int(name) for name in os.listdir(f"/proc/{pid}/fd"))


def _deliver(env: Tracee, job: Restore, *, inherited: Sequence[int]) -> None:
    """Receive the environment's descriptors (and /dev/null, last) on the delivery socket,
    move them to their places, close the delivery socket, and point every other inherited
    descriptor at /dev/null (the function's code may still hold it: a number it must not see
    reused): the environment shares no open file, pipe or socket with the template or its
    siblings."""
    count = len(job.targets) + 1
    base = env.scratch
    buf, iov, control, msg = base, base + 64, base + 128, base + 512
    control_len = _CMSG_HEADER.size + 8 * ((4 * count + 7) // 8)
    env.write(iov, _IOVEC.pack(buf, 64))
    env.write(msg, _MSGHDR.pack(0, 0, iov, 1, control, control_len, 0))
    flags = MSG_CMSG_CLOEXEC | MSG_DONTWAIT
    env.check(NR["recvmsg"], job.delivery_fd, msg, flags, what="recvmsg")
    length, level, kind = _CMSG_HEADER.unpack(env.read(control, _CMSG_HEADER.size))
    got = (length - _CMSG_HEADER.size) // 4
    if level != socket.SOL_SOCKET or kind != socket.SCM_RIGHTS or got != count:
        raise TraceError(0, f"expected {count} descriptors, got {got}")
    fds = struct.unpack(f"<{count}i", env.read(control + _CMSG_HEADER.size, 4 * count))
    *given, null = fds
    for fd, target in zip(given, job.targets, strict=True):
        env.check(NR["dup2"], fd, target, what="dup2")
    keep = set(job.targets) | {0}
    for fd in inherited:
        if fd == job.delivery_fd:  # the platform's: gone, as if it had never been there
            env.check(NR["close"], fd, what="close")
        elif fd not in keep and fd not in fds:  # the function's: still a valid descriptor
            env.check(NR["dup2"], null, fd, what="dup2 /dev/null")
    for fd in fds:
        if fd not in job.targets:
            env.check(NR["close"], fd, what="close")
