"""Clone a held template into an environment shell, as a checklist of injected calls.

    template T (held)        C (a clone sharing T's memory)       E (the environment)
    --- ahead, with the shell (`prepare_middle`, `prepare_environment`) ----------------------
    clone(VM|PARENT) ───────► init writes its pid to the
                              environment's cgroups
                              pidfd_open(shell), setns(pidfd,
                              user|mnt|net|uts|ipc|pid|cgroup)
                              empty the bounding set
                              clone(PARENT) ─────────────────────► (born in the shell's pid
                              killed                                namespace and in its
                                                                   cgroups, stopped)
                                                                   setgroups, setresgid,
                                                                   setresuid (the environment's
                                                                   ids), capset(0), the syscall
                                                                   filter, descriptors received
                                                                   and moved into place, the
                                                                   delivery socket closed, every
                                                                   other inherited descriptor
                                                                   replaced by /dev/null,
                                                                   chdir /var/task, setsid, the
                                                                   runner unmapped; held
    --- then (`release`, still ahead of demand) -----------------------------------------------
                                                                   resumes in T's interrupted
                                                                   receive: its own channel,
                                                                   where the daemon's Prepare
                                                                   and Restore come

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
from sandbox.snapshot.ptrace import FIRST_RESULT, Call, Tracee, TraceError, detach, wait_stop
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
    """What one environment is made of (its shell and cgroups are its middle's)."""

    uid: int
    gid: int
    delivery_fd: int  # T's end of the socket its descriptors arrive on (already queued)
    targets: Sequence[int]  # where each delivered descriptor goes, in order
    filter_program: bytes  # the sandbox's syscall filter


def prepare_middle(
    template: Tracee, *, shell_pid: int, cgroup_procs: Sequence[int], last_cap: int
) -> Tracee:
    """Ahead of a restore (when its shell is made): C, a clone sharing T's memory, moved into
    the environment's cgroups, in the shell's namespaces, its bounding set empty; left held.
    The restore is then only C's fork and E's set-up: E is born in its cgroups and shell."""
    # T is left in its clone's event stop: it only ever runs the runner again.
    clone_vm = (CLONE_VM | CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0)
    middle_pid = template.batch([Call("clone", NR["clone"], clone_vm)], until_child=True)
    template.resume_as(template.saved)
    try:
        _wait_born(middle_pid)
        for procs in cgroup_procs:  # before it runs anything: accounted and limited
            os.pwrite(procs, str(middle_pid).encode(), 0)
        middle = Tracee(middle_pid, like=template)
        _enter_shell(middle, shell_pid=shell_pid, last_cap=last_cap)
    except BaseException:
        _kill(middle_pid)
        raise
    return middle


def prepare_environment(template: Tracee, middle: Tracee, job: Restore) -> Tracee:
    """Make one environment of `job`, held before its first instruction: fork E from its
    middle (which then dies), set it up. `release` lets it run."""
    fork = (CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0)
    try:
        env_pid = middle.batch([Call("clone", NR["clone"], fork)], until_child=True)
    finally:
        _kill(middle.pid)
    try:
        _wait_born(env_pid)
        env = Tracee(env_pid, like=template)
        _set_up(env, job, inherited=_descriptors(template.pid))
    except BaseException:
        _kill(env_pid)
        raise
    return env


def release(template: Tracee, env: Tracee) -> int:
    """Let a prepared environment run: it resumes in T's interrupted receive. Its pid."""
    env.resume_as(template.saved)
    detach(env.pid)
    return env.pid


def clone_environment(template: Tracee, middle: Tracee, job: Restore) -> int:
    """`prepare_environment` then `release`: the environment runs when this returns."""
    return release(template, prepare_environment(template, middle, job))


def _wait_born(pid: int) -> None:
    status = wait_stop(pid)
    if not os.WIFSTOPPED(status):
        raise TraceError(0, f"clone {pid} ended before it was set up ({status:#x})")


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _enter_shell(middle: Tracee, *, shell_pid: int, last_cap: int) -> None:
    """In C: enter the shell's namespaces, empty the bounding set (entering a user namespace
    fills it; every sandbox's is empty). One batch."""
    calls = [
        Call("pidfd_open", NR["pidfd_open"], (shell_pid, 0)),
        Call("setns into the shell", NR["setns"], (FIRST_RESULT, SHELL_NAMESPACES)),
        Call("close", NR["close"], (FIRST_RESULT,)),
        *(
            Call("drop the bounding set", NR["prctl"], (PR_CAPBSET_DROP, cap))
            for cap in range(last_cap + 1)
        ),
    ]
    middle.batch(calls)


def _set_up(env: Tracee, job: Restore, *, inherited: Sequence[int]) -> None:
    """In E: drop privileges, receive its descriptors and put them in place, then unmap the
    runner (the last thing E runs before its resume is T's own syscall instruction)."""
    recv_flags = MSG_CMSG_CLOEXEC | MSG_DONTWAIT
    runner = env.runner
    if runner is None:
        raise TraceError(0, "the template has no batch runner")
    count = len(job.targets) + 1
    data = _Data(runner.data, count)
    env.write(data.at, data.pack(job))
    env.batch(
        [
            Call("setgroups", NR["setgroups"], (0, 0)),
            Call("setresgid", NR["setresgid"], (job.gid, job.gid, job.gid)),
            Call("setresuid", NR["setresuid"], (job.uid, job.uid, job.uid)),
            Call("capset", NR["capset"], (data.cap_header, data.cap_data)),
            Call("no_new_privs", NR["prctl"], (PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)),
            Call("seccomp", NR["seccomp"], (SECCOMP_SET_MODE_FILTER, 0, data.fprog)),
            Call("recvmsg", NR["recvmsg"], (job.delivery_fd, data.msg, recv_flags)),
        ]
    )
    fds = data.received(env.read(data.control, data.control_len))
    env.batch(
        [
            *_placing(job, fds, inherited=inherited),
            Call("chdir", NR["chdir"], (data.path,)),
            Call("setsid", NR["setsid"]),  # its own session, as every runtime's
        ]
    )
    env.step_call(NR["munmap"], runner.at, runner.size, what="munmap the runner")


def _descriptors(pid: int) -> list[int]:
    return sorted(int(name) for name in os.listdir(f"/proc/{pid}/fd"))


class _Data:
    """What E's injected calls point at, laid out in the runner's data area (E's own copy)."""

    def __init__(self, at: int, count: int) -> None:
        self.at = at
        self.count = count
        self.cap_header, self.cap_data = at, at + 16
        self.fprog = at + 48
        self.iov, self.msg = at + 64, at + 80
        self.buf = at + 144
        self.control = at + 208
        self.control_len = _CMSG_HEADER.size + 8 * ((4 * count + 7) // 8)
        self.path = self.control + self.control_len
        self.program = (self.path + len(TASK_ROOT) + 1 + 15) & ~15

    def pack(self, job: Restore) -> bytes:
        out = bytearray(self.program - self.at + len(job.filter_program))
        struct.pack_into("<Ii", out, 0, _CAP_VERSION_3, 0)  # header; data: 24 zero bytes
        struct.pack_into("<H6xQ", out, 48, len(job.filter_program) // 8, self.program)
        _IOVEC.pack_into(out, self.iov - self.at, self.buf, 64)
        msg = (0, 0, self.iov, 1, self.control, self.control_len, 0)
        _MSGHDR.pack_into(out, self.msg - self.at, *msg)
        path = TASK_ROOT.encode() + b"\0"
        out[self.path - self.at : self.path - self.at + len(path)] = path
        out[self.program - self.at :] = job.filter_program
        return bytes(out)

    def received(self, control: bytes) -> tuple[int, ...]:
        length, level, kind = _CMSG_HEADER.unpack_from(control)
        got = (length - _CMSG_HEADER.size) // 4
        if level != socket.SOL_SOCKET or kind != socket.SCM_RIGHTS or got != self.count:
            raise TraceError(0, f"expected {self.count} descriptors, got {got}")
        return struct.unpack_from(f"<{self.count}i", control, _CMSG_HEADER.size)


def _placing(job: Restore, fds: Sequence[int], *, inherited: Sequence[int]) -> list[Call]:
    """Move the received descriptors (and /dev/null, last) to their places, close the
    delivery socket, and point every other inherited descriptor at /dev/null (the function's
    code may still hold it: a number it must not see reused): the environment shares no open
    file, pipe or socket with the template or its siblings."""
    *given, null = fds
    calls = [
        Call("dup2", NR["dup2"], (fd, target))
        for fd, target in zip(given, job.targets, strict=True)
    ]
    keep = set(job.targets) | {0}
    for fd in inherited:
        if fd == job.delivery_fd:  # the platform's: gone, as if it had never been there
            calls.append(Call("close", NR["close"], (fd,)))
        elif fd not in keep and fd not in fds:  # the function's: still a valid descriptor
            calls.append(Call("dup2 /dev/null", NR["dup2"], (null, fd)))
    calls += [Call("close", NR["close"], (fd,)) for fd in fds if fd not in job.targets]
    return calls
