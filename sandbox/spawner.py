"""The spawner: a single-threaded fork server that builds every sandbox (no Trio here).

The daemon starts it once by exec (``python -I -m sandbox.spawner CONTROL_FD --tag=NAME``)
and talks to it over a SOCK_SEQPACKET socketpair: one msgpack map per packet, file
descriptors attached with SCM_RIGHTS. It pre-imports the Python runtime so that a Python
cold start is a fork, not an interpreter start; and it builds *stems* ahead of demand (see
`sandbox.stem`), so that a cold start only specializes one.

Requests:  {"op": "stem", "stem": {...}}               fork a stem (its init is pid 1 of
                                                       a new pid namespace)
           {"op": "specialize", "spec": {...}} + fds   [runtime socket, log pipe, (netns)],
                                                       forwarded to the stem's init with
                                                       detached read-only clones of the code,
                                                       runtime and opt dirs, in `InitFds`
                                                       order: runtime socket, log pipe, code,
                                                       runtime, (opt if spec.opt_dir),
                                                       (netns if spec.netns)
           {"op": "kill", "id": ...}
Replies:   {"op": "stem_forked", "id", "pid"} | {"op": "specialized", "id"}
           {"op": "failed", "id", "error"}
           {"op": "exited", "id", "pid", "status": wait_status}   (unsolicited)

Resource handling: the spawner owns the init process of every sandbox it forked and reaps
it. When the control socket closes (the daemon went away) it SIGKILLs every init (which
kills each pid namespace whole) and exits. Each init has PDEATHSIG=SIGKILL once it is
specialized, and an unspecialized stem exits when its control socket closes, so a killed
spawner takes its sandboxes with it.
"""

from __future__ import annotations

import errno
import gc
import os
import selectors
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import msgpack

from sandbox import _syscalls as sc
from sandbox.rootfs import HostLayout, clone_tree
from sandbox.runtimes.python import bootstrap
from sandbox.spec import MAX_CONTROL_PACKET, InitFds, SandboxSpec, StemSpec
from sandbox.stem import run_stem_init


@dataclass(eq=False)
class _Child:
    sandbox_id: str
    control: socket.socket | None  # our end of the stem's control line, until specialized


class _Spawner:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        self.layout = HostLayout.inspect()
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.children: dict[int, _Child] = {}  # pid of each sandbox's init
        self.by_id: dict[str, int] = {}
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
            child = self.children.pop(pid, None)
            if child is not None:
                self.by_id.pop(child.sandbox_id, None)
                if child.control is not None:
                    child.control.close()
                self.send({"op": "exited", "id": child.sandbox_id, "pid": pid, "status": status})

    def _handle_request(self) -> bool:
        try:
            data, fds, _flags, _addr = socket.recv_fds(self.control, MAX_CONTROL_PACKET, 4)
        except ConnectionResetError:
            return False
        try:
            if not data:
                return False
            msg = msgpack.unpackb(data, raw=False)
            op = msg.get("op")
            if op == "stem":
                self._fork_stem(msg)
            elif op == "specialize":
                self._specialize(msg, fds)
            elif op == "kill":
                pid = self.by_id.get(str(msg.get("id")))
                if pid is not None:  # never signal a pid we have already reaped
                    os.kill(pid, signal.SIGKILL)
            else:
                self.send({"op": "failed", "id": msg.get("id"), "error": f"unknown op {op!r}"})
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _fork_stem(self, msg: dict[str, Any]) -> None:
        sandbox_id = str(msg.get("stem", {}).get("sandbox_id", "?"))
        try:
            stem = StemSpec.from_wire(msg["stem"])
            ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            # The next fork becomes pid 1 of a new pid namespace; restore ours right after.
            sc.unshare(sc.CLONE_NEWPID)
            try:
                pid = os.fork()
                if pid == 0:
                    ours.close()
                    self._become_init(stem, theirs)
            finally:
                sc.setns(self.own_pidns, sc.CLONE_NEWPID)
                theirs.close()
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self.send({"op": "failed", "id": sandbox_id, "error": f"{type(exc).__name__}: {exc}"})
            return
        self.children[pid] = _Child(stem.sandbox_id, ours)
        self.by_id[stem.sandbox_id] = pid
        self.send({"op": "stem_forked", "id": stem.sandbox_id, "pid": pid})

    def _specialize(self, msg: dict[str, Any], fds: list[int]) -> None:
        sandbox_id = str(msg.get("spec", {}).get("sandbox_id", "?"))
        try:
            spec = SandboxSpec.from_wire(msg["spec"])  # refuse garbage here, not in the stem
            pid = self.by_id.get(sandbox_id)
            child = self.children.get(pid) if pid is not None else None
            if child is None or child.control is None:
                raise ValueError(f"no unspecialized stem {sandbox_id}")
            expected = 3 if spec.netns else 2
            if len(fds) != expected:
                raise ValueError(
                    f"specialize needs {expected} fds (runtime socket, log pipe"
                    f"{', netns' if spec.netns else ''}), got {len(fds)}"
                )
            trees: list[int] = []  # detached read-only mounts: code, runtime, (opt)
            try:
                trees.append(clone_tree(spec.code_dir))
                trees.append(clone_tree(spec.runtime_dir))
                if spec.opt_dir:
                    trees.append(clone_tree(spec.opt_dir))
                to_init = InitFds(
                    runtime=fds[0],
                    log=fds[1],
                    code_tree=trees[0],
                    runtime_tree=trees[1],
                    opt_tree=trees[2] if spec.opt_dir else None,
                    netns=fds[2] if spec.netns else None,
                )
                packet = msgpack.packb(msg["spec"], use_bin_type=True)
                socket.send_fds(child.control, [packet], to_init.to_list())
            finally:
                for tree in trees:
                    os.close(tree)
            child.control.close()
            child.control = None
        except (OSError, ValueError, TypeError, KeyError) as exc:
            self.send({"op": "failed", "id": sandbox_id, "error": f"{type(exc).__name__}: {exc}"})
            return
        self.send({"op": "specialized", "id": sandbox_id})

    def _become_init(self, stem: StemSpec, control: socket.socket) -> NoReturn:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for fd in (self.wake_r, self.wake_w, self.own_pidns, self.control.fileno()):
            os.close(fd)
        for child in self.children.values():
            if child.control is not None:
                child.control.close()
        run_stem_init(stem, layout=self.layout, control=control)

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
