"""The spawner: a single-threaded fork server that builds every sandbox (no Trio here).

The daemon starts it once by exec (``python -I -m sandbox.spawner CONTROL_FD --tag=NAME``)
and talks to it over a SOCK_SEQPACKET socketpair: one msgpack map per packet, file
descriptors attached with SCM_RIGHTS. It pre-imports the Python runtime so that a Python
cold start is a fork, not an interpreter start.

Process tree of one sandbox::

    spawner (root, host namespaces)
     └─ init    pid 1 of a new pid namespace; joins the cgroup, unshares the other
        │       namespaces, builds the root filesystem, forks the runtime, drops every
        │       privilege and reaps orphans; exits with the runtime's status
        └─ runtime   pid 2; setsid, rlimits, stdio, drops every privilege, then runs the
                     language runtime (Python in-process) on the Runtime API socket

Requests:  {"op": "spawn", "spec": {...}} + fds [runtime_socket, log_pipe]
           {"op": "kill", "pid": N}
Replies:   {"op": "spawned", "id": ..., "pid": N} | {"op": "spawn_failed", "id": ..., "error": ...}
           {"op": "exited", "id": ..., "pid": N, "status": wait_status}   (unsolicited)

Resource handling: the spawner owns the init process of every sandbox it forked and reaps
it. When the control socket closes (the daemon went away) it SIGKILLs every init (which
kills each pid namespace whole) and exits. Each init has PDEATHSIG=SIGKILL, so a killed
spawner takes its sandboxes with it.
"""

from __future__ import annotations

import errno
import fcntl
import gc
import os
import selectors
import signal
import socket
import struct
import sys
from typing import Any, NoReturn

import msgpack

from sandbox import _syscalls as sc
from sandbox.privileges import drop_child_privileges, set_child_rlimits
from sandbox.protocol import Connection, SetupFailed
from sandbox.rootfs import HostLayout, configure_child_rootfs
from sandbox.runtimes.python import bootstrap
from sandbox.spec import TASK_ROOT, SandboxSpec

MAX_PACKET = 256 * 1024
_NAMESPACES = sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC | sc.CLONE_NEWNET
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1


def encode_exit(status: int) -> int:
    """Map the runtime's wait status to init's exit code: n for exit(n), 128+sig for a signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status) & 0xFF


class _Spawner:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.layout = HostLayout.inspect()
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.children: dict[int, str] = {}
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when we stop

    def send(self, msg: dict[str, Any]) -> None:
        self.control.send(msgpack.packb(msg, use_bin_type=True))

    def serve(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self.control, selectors.EVENT_READ, "control")
        sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        while True:
            for key, _ in sel.select():
                if key.data == "wake":
                    self._drain_wakeups()
                    self._reap()
                elif not self._handle_request():
                    self._shutdown()
                    return

    def _drain_wakeups(self) -> None:
        try:
            while os.read(self.wake_r, 4096):
                pass
        except BlockingIOError:
            pass

    def _reap(self) -> None:
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            sandbox_id = self.children.pop(pid, None)
            if sandbox_id is not None:
                self.send({"op": "exited", "id": sandbox_id, "pid": pid, "status": status})

    def _handle_request(self) -> bool:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.control, MAX_PACKET, 4)
        except ConnectionResetError:
            return False
        if not data:
            for fd in fds:
                os.close(fd)
            return False
        try:
            msg = msgpack.unpackb(data, raw=False)
            op = msg.get("op")
            if op == "spawn":
                self._spawn(msg, fds)
            elif op == "kill":
                pid = int(msg["pid"])
                if pid in self.children:  # never signal a pid we have already reaped
                    os.kill(pid, signal.SIGKILL)
            else:
                self.send({"op": "error", "error": f"unknown op {op!r}"})
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _spawn(self, msg: dict[str, Any], fds: list[int]) -> None:
        spec_id = str(msg.get("spec", {}).get("sandbox_id", "?"))
        try:
            spec = SandboxSpec.from_wire(msg["spec"])
            if len(fds) != 2:
                raise ValueError(f"spawn needs 2 fds (runtime socket, log pipe), got {len(fds)}")
            # The next fork becomes pid 1 of a new pid namespace; restore ours right after.
            sc.unshare(sc.CLONE_NEWPID)
            try:
                pid = os.fork()
                if pid == 0:
                    self._become_init(spec, runtime_fd=fds[0], log_fd=fds[1])
            finally:
                sc.setns(self.own_pidns, sc.CLONE_NEWPID)
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self.send({"op": "spawn_failed", "id": spec_id, "error": str(exc)})
            return
        self.children[pid] = spec.sandbox_id
        self.send({"op": "spawned", "id": spec.sandbox_id, "pid": pid})

    def _become_init(self, spec: SandboxSpec, *, runtime_fd: int, log_fd: int) -> NoReturn:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for fd in (self.wake_r, self.wake_w, self.own_pidns, self.control.fileno()):
            os.close(fd)
        run_init(spec, layout=self.layout, runtime_fd=runtime_fd, log_fd=log_fd)

    def _shutdown(self) -> None:
        for pid in list(self.children):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid in list(self.children):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass


def _bring_up_loopback() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack("16sh", b"lo", 0)
        flags = struct.unpack("16sh", fcntl.ioctl(s, _SIOCGIFFLAGS, req + b"\0" * 22)[:18])[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack("16sh", b"lo", flags | _IFF_UP) + b"\0" * 22)


def _join_cgroups(procs_files: tuple[str, ...]) -> None:
    # Our pid is 1 in our own namespace; "0" written to cgroup.procs means "the writer".
    for path in procs_files:
        with open(path, "w") as f:
            f.write("0")


def run_init(spec: SandboxSpec, *, layout: HostLayout, runtime_fd: int, log_fd: int) -> NoReturn:
    """The sandbox's pid 1, as a checklist. Never returns."""
    step = "join cgroup"
    try:
        _join_cgroups(spec.cgroup_procs)  # first: everything below is accounted and limited
        step = "unshare namespaces"
        sc.unshare(_NAMESPACES)
        sc.unshare(sc.CLONE_NEWCGROUP)  # after the join, so the sandbox sees its group as /
        step = "build root filesystem"
        configure_child_rootfs(spec, layout)
        step = "set hostname"
        sc.sethostname(spec.hostname)
        step = "bring up loopback"
        _bring_up_loopback()
        step = "fork runtime"
        runtime_pid = os.fork()
        if runtime_pid == 0:
            run_runtime(spec, runtime_fd=runtime_fd, log_fd=log_fd)
        step = "drop init privileges"
        os.setsid()
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 1 << 20)
        drop_child_privileges(uid=spec.uid, gid=spec.gid)
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
    except BaseException as exc:
        _report_setup_failure(runtime_fd, step, exc)
        os._exit(125)
    _reap_until(runtime_pid)


def _report_setup_failure(runtime_fd: int, step: str, exc: BaseException) -> None:
    try:
        frame = Connection().send(SetupFailed(step=step, message=f"{type(exc).__name__}: {exc}"))
        os.write(runtime_fd, frame)
    except OSError:
        pass


def _reap_until(runtime_pid: int) -> NoReturn:
    """Reap every orphan in the namespace; leave with the runtime's status when it ends."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(126)
        except InterruptedError:
            continue
        if pid == runtime_pid:
            os._exit(encode_exit(status))


def run_runtime(spec: SandboxSpec, *, runtime_fd: int, log_fd: int) -> NoReturn:
    """The sandbox's pid 2: lose every privilege, then become the language runtime."""
    try:
        os.setsid()
        set_child_rlimits(nofile=spec.nofile)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        # Keep 0-2 and the Runtime API socket; every other descriptor goes.
        os.closerange(3, runtime_fd)
        os.closerange(runtime_fd + 1, 1 << 20)
        os.set_inheritable(runtime_fd, False)
        drop_child_privileges(uid=spec.uid, gid=spec.gid)
        os.chdir(TASK_ROOT)
        os.environ.clear()
        os.environ.update(spec.env)
        os.umask(0o022)
    except BaseException as exc:
        _report_setup_failure(runtime_fd, "drop runtime privileges", exc)
        os._exit(125)
    bootstrap.run(runtime_fd, handler=spec.handler)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    args = [a for a in args if not a.startswith("--tag=")]  # only there to be seen in ps
    if len(args) != 1 or not args[0].isdigit():
        print("usage: python -I -m sandbox.spawner CONTROL_FD [--tag=NAME]", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("lambdalet spawner must run as root (it builds namespaces)", file=sys.stderr)
        return 1
    control = socket.socket(fileno=int(args[0]))
    if control.type != socket.SOCK_SEQPACKET:
        print("spawner control fd must be a SOCK_SEQPACKET socket", file=sys.stderr)
        return 2
    bootstrap.preload()
    # Move everything imported so far out of the collector's reach: a forked child that runs
    # a collection would otherwise touch (and copy) every page of the spawner's heap.
    gc.collect()
    gc.freeze()
    try:
        _Spawner(control).serve()
    except OSError as exc:
        if exc.errno != errno.EPIPE:
            raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
