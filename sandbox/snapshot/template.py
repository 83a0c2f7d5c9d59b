"""A template's init: it holds the initialised runtime and clones environments from it.

A template is a stem specialized like any other, except that its init keeps its privileges
(it is the tracer) and its runtime runs under the template filter (`SECCOMP_RET_TRACE` for
`setns`, so that only calls this init injects may enter a shell). Once the runtime reported
TemplateReady to the daemon it is blocked in a receive, and the requests below arrive on the
init's control line (relayed by the spawner, one msgpack map per packet, descriptors with
SCM_RIGHTS):

    {"op": "freeze"}                      hold every thread of the runtime in a ptrace stop,
                                          end every other process of the template, refuse a
                                          runtime with writable shared memory
    {"op": "shell", uid, gid, hostname,   an environment: its shell (`shell.make_shell`), its
      tmp_size_mb, cgroups: n}            middle (`restore.prepare_middle`), the environment
      + [n cgroup.procs, runtime socket,  set up (`restore.prepare_environment`) and let go
         log pipe]                        (`restore.release`): it resumes in the template's
                                          receive, reading its own runtime socket
    {"op": "release", pid}                end an environment (its shell's pid 1, and so the
                                          whole pid namespace)

Replies: {"op": "frozen"} | {"op": "shell", "pid" (the environment's), "shell_ms",
"prepared_ms" (the namespaces; the clone and its set-up)} + a pidfd of the environment |
{"op": "released"} | {"op": "failed", "error"}. From "freeze" on, no instruction of the
template runs again: it is only ever a source of clones, and it dies with this init.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import time
from typing import Any, NoReturn

import msgpack

from sandbox.privileges import highest_capability
from sandbox.snapshot import ptrace
from sandbox.snapshot.restore import Restore, prepare_environment, prepare_middle, release
from sandbox.snapshot.shell import ShellSpec, make_shell
from sandbox.spec import RUNTIME_FD

DELIVERY_FD = RUNTIME_FD + 1  # the runtime's end of the socket environments' fds arrive on
_MAX_REQUEST = 64 * 1024
_MAX_FDS = 8
_WALL = 0x40000000
FREEZE_WAIT_S = 5.0


class TemplateInit:
    """The template's init once the runtime is specialized: `serve` never returns."""

    def __init__(
        self,
        control: socket.socket,
        *,
        runtime_pid: int,
        delivery: socket.socket,
        owner: tuple[int, int],
        program: bytes,
        delivery_inode: int,
    ) -> None:
        self.delivery_inode = delivery_inode  # of the runtime's end of the delivery line
        self.control = control
        self.runtime_pid = runtime_pid
        self.delivery = delivery
        self.owner = owner
        self.program = program
        self.held: ptrace.Tracee | None = None
        self.shells: dict[int, int] = {}  # environment pid -> its shell's pid 1
        self.shell_made = 0.0
        self.null = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
        self.last_cap = highest_capability()

    def serve(self) -> NoReturn:
        wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        sel = selectors.DefaultSelector()
        sel.register(self.control, selectors.EVENT_READ, "control")
        sel.register(wake_r, selectors.EVENT_READ, "wake")
        while True:
            for key, _ in sel.select():
                if key.data == "wake":
                    _drain(wake_r)
                    self._reap()
                else:
                    self._serve_one()

    def _serve_one(self) -> None:
        data, fds, _flags, _addr = socket.recv_fds(self.control, _MAX_REQUEST, _MAX_FDS)
        if not data:
            os._exit(0)  # the spawner let us go: the template and its environments end
        given: list[int] = []
        try:
            reply, given = self._handle(msgpack.unpackb(data, raw=False), fds)
        except Exception as exc:  # every failure is the request's answer
            reply = {"op": "failed", "error": f"{type(exc).__name__}: {exc}"}
        finally:
            for fd in fds:
                os.close(fd)
        try:
            socket.send_fds(self.control, [msgpack.packb(reply, use_bin_type=True)], given)
        finally:
            for fd in given:
                os.close(fd)
        self._reap()

    def _handle(self, msg: dict[str, Any], fds: list[int]) -> tuple[dict[str, Any], list[int]]:
        """The answer to one request, and descriptors to send with it (a pidfd of the
        process it made, from which the spawner learns its host pid)."""
        op = msg.get("op")
        if op == "freeze":
            self._freeze()
            return {"op": "frozen"}, []
        if op == "shell":
            started = time.perf_counter()
            env = self._shell(msg, fds)
            prepared_ms = (time.perf_counter() - self.shell_made) * 1000
            shell_ms = (self.shell_made - started) * 1000
            answer = {"op": "shell", "pid": env, "shell_ms": shell_ms, "prepared_ms": prepared_ms}
            return answer, [os.pidfd_open(env)]
        if op == "release":  # an environment, by its pid
            if (shell := self.shells.get(int(msg["pid"]))) is not None:
                os.kill(shell, signal.SIGKILL)
            return {"op": "released"}, []
        raise ValueError(f"unknown op {op!r}")

    def _freeze(self) -> None:
        if self.held is not None:
            raise ValueError("already frozen")
        pid = self.runtime_pid
        _wait_blocked(pid)
        held: set[int] = set()
        while True:  # until no thread is left running (a running one may start another)
            tids = {int(t) for t in os.listdir(f"/proc/{pid}/task")} - held
            if not tids:
                break
            for tid in tids:
                ptrace.seize(tid)
                ptrace.interrupt(tid)
                held.add(tid)
        _end_others(keep={1, pid})
        _refuse_shared_memory(pid)
        if os.stat(f"/proc/{pid}/fd/{DELIVERY_FD}").st_ino != self.delivery_inode:
            raise ValueError(f"init replaced or closed the platform's descriptor {DELIVERY_FD}")
        held_thread = ptrace.Tracee(pid)
        held_thread.install_runner()  # every restore's fixed call sequences run in it
        self.held = held_thread

    def _shell(self, msg: dict[str, Any], fds: list[int]) -> int:
        """A shell, its middle and its environment, made, set up and let go; the environment's
        pid. `fds`: the environment's cgroup.procs files ("cgroups" of them), then its runtime
        socket and log pipe."""
        if self.held is None:
            raise ValueError("the template is not frozen")
        count = int(msg["cgroups"])
        if len(fds) != count + 2:
            raise ValueError("a shell needs its cgroup.procs files, runtime socket and log pipe")
        procs, (runtime, log) = fds[:count], fds[count:]
        spec = ShellSpec(
            owner_uid=self.owner[0],
            owner_gid=self.owner[1],
            uid=int(msg["uid"]),
            gid=int(msg["gid"]),
            hostname=str(msg["hostname"]),
            tmp_size_mb=int(msg["tmp_size_mb"]),
        )
        shell = make_shell(spec, cgroup_procs=procs)
        self.shell_made = time.perf_counter()  # what follows is the clone: `prepared_ms`
        try:
            middle = prepare_middle(
                self.held, shell_pid=shell, cgroup_procs=procs, last_cap=self.last_cap
            )
            socket.send_fds(self.delivery, [b"r"], [runtime, log, log, self.null])
            job = Restore(
                uid=spec.uid,
                gid=spec.gid,
                delivery_fd=DELIVERY_FD,
                targets=(RUNTIME_FD, 1, 2),
                filter_program=self.program,
            )
            try:
                env = prepare_environment(self.held, middle, job)
            except BaseException:
                _drain_descriptors(self.delivery)
                raise
            pid = release(self.held, env)
        except BaseException:
            os.kill(shell, signal.SIGKILL)
            raise
        self.shells[pid] = shell
        return pid

    def _reap(self) -> None:
        """Collect ended children (clones' middles, helpers, environments, shells). An ended
        environment takes its shell with it and is reported: {"op": "env_exited", "pid",
        "status": its wait status}. Never collects ptrace stops."""
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | _WALL)
            except ChildProcessError:
                return
            if info is None or info.si_pid == 0:
                return
            if info.si_pid == self.runtime_pid:
                os._exit(1)  # the template is gone: nothing left to clone
            shell = self.shells.pop(info.si_pid, None)
            if shell is None:
                continue
            try:
                os.kill(shell, signal.SIGKILL)
            except ProcessLookupError:
                pass
            status = wait_status_of(info)
            report = {"op": "env_exited", "pid": info.si_pid, "status": status}
            self.control.send(msgpack.packb(report, use_bin_type=True))


def _wait_blocked(pid: int, *, timeout_s: float = FREEZE_WAIT_S) -> None:
    """Until the runtime's main thread sits in a system call (its receive, right after it
    sent TemplateReady): only a thread stopped there can be cloned."""
    deadline = time.monotonic() + timeout_s
    while True:
        with open(f"/proc/{pid}/syscall") as f:
            state = f.read().split()
        if state and state[0].isdigit():
            return
        if time.monotonic() >= deadline:
            raise ValueError(f"the runtime did not block within {timeout_s:.0f} s of its init")
        time.sleep(0.0005)


def _end_others(*, keep: set[int]) -> None:
    """SIGKILL every process of this pid namespace but `keep`, until none is left (what the
    function started during init must not outlive it as the template's uid)."""
    for _ in range(100):
        others = [int(p) for p in os.listdir("/proc") if p.isdigit() and int(p) not in keep]
        if not others:
            return
        for pid in others:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in others:
            try:
                os.waitid(os.P_PID, pid, os.WEXITED | _WALL)
            except ChildProcessError:
                pass
    raise OSError(0, "processes started during init keep multiplying")


def _refuse_shared_memory(pid: int) -> None:
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            fields = line.split()
            if len(fields) >= 2 and fields[1][1] == "w" and fields[1][3] == "s":
                where = fields[5] if len(fields) > 5 else "anonymous"
                raise ValueError(
                    f"init left writable shared memory ({where}): environments would share it"
                )


def wait_status_of(info: os.waitid_result) -> int:
    """waitid's answer as the wait status waitpid would have given."""
    if info.si_code == os.CLD_EXITED:
        return (info.si_status & 0xFF) << 8
    return (info.si_status & 0x7F) | (0x80 if info.si_code == os.CLD_DUMPED else 0)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _drain_descriptors(sock: socket.socket) -> None:
    """Take back descriptors a failed restore left queued for the runtime."""
    sock.setblocking(False)
    try:
        while True:
            _data, fds, _f, _a = socket.recv_fds(sock, 64, _MAX_FDS)
            for fd in fds:
                os.close(fd)
    except BlockingIOError:
        pass
    finally:
        sock.setblocking(True)
