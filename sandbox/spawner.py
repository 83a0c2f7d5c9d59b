"""The spawner: a single-threaded fork server that builds every sandbox (no Trio here).

The daemon starts it once by exec (``python -I -m sandbox.spawner CONTROL_FD --tag=NAME``)
and talks to it over a SOCK_SEQPACKET socketpair: one msgpack map per packet, file
descriptors attached with SCM_RIGHTS. It pre-imports the Python runtime so that a Python
cold start is a fork, not an interpreter start; and it builds *stems* ahead of demand (see
`sandbox.stem`), so that a cold start only specializes one.

Requests (`sandbox.control`: a msgpack header, then an opaque payload):
           {"op": "stem", "id", "stem": {...}}        fork a stem (its init is pid 1 of a
                                                      new pid namespace)
           {"op": "specialize", "id"} + packed spec   relayed unread to the stem's init with
             + fds in `InitFds` order                 the fds: runtime socket, log pipe, code,
                                                      runtime, (opt), (netns); the spawner's
                                                      buffer is zeroed after
           {"op": "kill", "id"}
           {"op": "template", "id", "request"}        relayed to a template's init (which
             + fds                                    keeps its control line), whose answer
                                                      comes back as {"op": "template_reply",
                                                      "id", "reply"} (`sandbox.snapshot`)
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

import array
import errno
import gc
import os
import select
import selectors
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any, NoReturn

import msgpack

from sandbox import _syscalls as sc
from sandbox.control import decode_request
from sandbox.rootfs import HostLayout
from sandbox.runtimes.python import bootstrap
from sandbox.seccomp.bpf import host_program
from sandbox.spec import MAX_CONTROL_PACKET, MAX_INIT_FDS, StemSpec
from sandbox.stem import run_stem_init

_FD_BYTES = array.array("i").itemsize
_MAX_TEMPLATE_FDS = 8
_MAX_TEMPLATE_REPLY = 4096
_TEMPLATE_REPLY_TIMEOUT_S = 30.0  # a shell with its mounts and middle takes milliseconds


def _received_fds(ancdata: list[tuple[int, int, bytes]]) -> list[int]:
    fds = array.array("i")
    for level, kind, data in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
            fds.frombytes(data[: len(data) - len(data) % _FD_BYTES])
    return list(fds)


@dataclass(eq=False)
class _Child:
    sandbox_id: str
    control: socket.socket | None  # our end of the stem's control line, until specialized
    template: bool = False  # a template's line stays open: it takes requests for its life


class _Spawner:
    def __init__(self, control: socket.socket) -> None:
        self.control = control
        # Every request lands here and nowhere else; a specialization's spec (a function's
        # configuration) is relayed from it by reference and wiped right after.
        self.buffer = bytearray(MAX_CONTROL_PACKET)
        self.layout = HostLayout.inspect()
        self.own_pidns = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
        self.children: dict[int, _Child] = {}  # pid of each sandbox's init
        self.by_id: dict[str, int] = {}
        # Environments cloned from templates: id -> (its template's init, its pid there).
        self.envs: dict[str, tuple[int, int]] = {}
        self.selector = selectors.DefaultSelector()
        self.wake_r, self.wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        signal.set_wakeup_fd(self.wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the daemon decides when we stop

    def send(self, msg: dict[str, Any]) -> None:
        self.control.send(msgpack.packb(msg, use_bin_type=True))

    def serve(self) -> None:
        sel = self.selector
        sel.register(self.control, selectors.EVENT_READ, "control")
        sel.register(self.wake_r, selectors.EVENT_READ, "wake")
        while True:
            for key, _ in sel.select():
                if key.data == "wake":
                    self._drain_wakeups()
                    self._reap()
                elif isinstance(key.data, _Child):
                    self._template_report(key.data)
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
                    if child.template and child.control in self.selector.get_map():
                        self.selector.unregister(child.control)  # specialized: registered
                    child.control.close()
                self.send({"op": "exited", "id": child.sandbox_id, "pid": pid, "status": status})
                for env_id, (template, env_pid) in list(self.envs.items()):
                    if template == pid:  # its pid namespace, and every environment, is gone
                        self._env_exited(env_id, env_pid, signal.SIGKILL)

    def _handle_request(self) -> bool:
        try:
            size, ancdata, flags, _addr = self.control.recvmsg_into(
                [self.buffer], socket.CMSG_SPACE(max(MAX_INIT_FDS, _MAX_TEMPLATE_FDS) * _FD_BYTES)
            )
        except ConnectionResetError:
            return False
        fds = _received_fds(ancdata)
        packet = memoryview(self.buffer)[:size]
        try:
            if size == 0:
                return False
            if flags & socket.MSG_TRUNC:
                self.send({"op": "failed", "id": None, "error": "control packet too large"})
                return True
            msg, payload = decode_request(packet)
            op = msg.get("op")
            if op == "stem":
                self._fork_stem(msg)
            elif op == "specialize":
                self._specialize(str(msg.get("id")), payload, fds)
            elif op == "template":
                self._template(str(msg.get("id")), msg.get("request"), fds)
            elif op == "kill":
                pid = self.by_id.get(str(msg.get("id")))
                if pid is not None:  # never signal a pid we have already reaped
                    os.kill(pid, signal.SIGKILL)
                elif (env := self.envs.get(str(msg.get("id")))) is not None:
                    self._release(*env)
            else:
                self.send({"op": "failed", "id": msg.get("id"), "error": f"unknown op {op!r}"})
        finally:
            packet[:] = bytes(size)  # wipe the request (a spec may hold a function's secrets)
            packet.release()
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
        self.children[pid] = _Child(stem.sandbox_id, ours, template=stem.template)
        self.by_id[stem.sandbox_id] = pid
        self.send({"op": "stem_forked", "id": stem.sandbox_id, "pid": pid})

    def _specialize(self, sandbox_id: str, spec: memoryview, fds: list[int]) -> None:
        """Relay the packed spec and the descriptors to the stem's init, which checks both
        (`InitFds.unpack`). The spec is not read here."""
        try:
            pid = self.by_id.get(sandbox_id)
            child = self.children.get(pid) if pid is not None else None
            if child is None or child.control is None:
                raise ValueError(f"no unspecialized stem {sandbox_id}")
            if not 4 <= len(fds) <= MAX_INIT_FDS:
                raise ValueError(f"specialize needs 4 to {MAX_INIT_FDS} fds, got {len(fds)}")
            socket.send_fds(child.control, [spec], fds)
            if child.template:
                self.selector.register(child.control, selectors.EVENT_READ, child)
            else:
                child.control.close()
                child.control = None
        except (OSError, ValueError) as exc:
            self.send({"op": "failed", "id": sandbox_id, "error": f"{type(exc).__name__}: {exc}"})
            return
        self.send({"op": "specialized", "id": sandbox_id})

    def _template(self, sandbox_id: str, request: object, fds: list[int]) -> None:
        """Relay one request to a template's init and its answer back. The spawner waits for
        it: a template answers in milliseconds, and requests stay in order."""
        try:
            pid = self.by_id.get(sandbox_id)
            child = self.children.get(pid) if pid is not None else None
            if child is None or not child.template or child.control is None:
                raise ValueError(f"no template {sandbox_id}")
            if not isinstance(request, dict) or len(fds) > _MAX_TEMPLATE_FDS:
                raise ValueError("a template request is a map with a few descriptors")
            assert pid is not None
            env_id = request.pop("env_id", None)
            if request.get("op") == "shell" and (not env_id or env_id in self.envs):
                raise ValueError("a shell names a new environment id (env_id)")
            reply = self._exchange(child, request, fds)
            if reply.get("op") == "shell":
                self.envs[str(env_id)] = (pid, int(reply["pid"]))
        except (OSError, ValueError, KeyError) as exc:
            self.send({"op": "failed", "id": sandbox_id, "error": f"{type(exc).__name__}: {exc}"})
            return
        self.send({"op": "template_reply", "id": sandbox_id, "reply": reply})

    def _exchange(self, child: _Child, request: dict[str, Any], fds: list[int]) -> dict[str, Any]:
        """One request to a template's init and its answer, passing on the reports that come
        before it. A pidfd with the answer becomes the host pid of what it made."""
        assert child.control is not None
        socket.send_fds(child.control, [msgpack.packb(request, use_bin_type=True)], fds)
        while True:
            # Bounded: every sandbox waits on the spawner meanwhile. A template that does not
            # answer in time is killed (its environments with it).
            poll = select.poll()  # not select(): descriptors may be above FD_SETSIZE
            poll.register(child.control, select.POLLIN)
            if not poll.poll(_TEMPLATE_REPLY_TIMEOUT_S * 1000):
                pid = self.by_id.get(child.sandbox_id)
                if pid is not None:
                    os.kill(pid, signal.SIGKILL)
                raise ValueError(f"template {child.sandbox_id} did not answer: killed")
            answer, given, _flags, _addr = socket.recv_fds(child.control, _MAX_TEMPLATE_REPLY, 1)
            if not answer:
                raise ValueError(f"template {child.sandbox_id} ended")
            reply: dict[str, Any] = msgpack.unpackb(answer, raw=False)
            if reply.get("op") == "env_exited":
                self._env_report(child, reply)
                continue
            for fd in given:
                reply["host_pid"] = _pidfd_pid(fd)
                os.close(fd)
            return reply

    def _template_report(self, child: _Child) -> None:
        """An unsolicited message from a template's init: an environment ended."""
        assert child.control is not None
        try:  # readiness may be stale: a relay in the same round read what was there
            data = child.control.recv(_MAX_TEMPLATE_REPLY, socket.MSG_DONTWAIT)
        except BlockingIOError:
            return
        except OSError:  # reset: the init died (killed)
            data = b""
        if data:
            self._env_report(child, msgpack.unpackb(data, raw=False))
        else:  # the init is ending; its exit is reaped and reported
            self.selector.unregister(child.control)
            child.control.close()
            child.control = None

    def _env_report(self, child: _Child, report: dict[str, Any]) -> None:
        template = self.by_id.get(child.sandbox_id)
        for env_id, (owner, env_pid) in list(self.envs.items()):
            if owner == template and env_pid == report.get("pid"):
                self._env_exited(env_id, env_pid, int(report.get("status", signal.SIGKILL)))

    def _env_exited(self, env_id: str, env_pid: int, status: int) -> None:
        del self.envs[env_id]
        self.send({"op": "exited", "id": env_id, "pid": env_pid, "status": status})

    def _release(self, template: int, env_pid: int) -> None:
        child = self.children.get(template)
        if child is None or child.control is None:
            return
        try:
            self._exchange(child, {"op": "release", "pid": env_pid}, [])
        except (OSError, ValueError):
            pass

    def _become_init(self, stem: StemSpec, control: socket.socket) -> NoReturn:
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT):
            signal.signal(sig, signal.SIG_DFL)
        for fd in (self.wake_r, self.wake_w, self.own_pidns, self.control.fileno()):
            os.close(fd)
        self.selector.close()
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


def _pidfd_pid(fd: int) -> int:
    """The pid (in our pid namespace) of the process a pidfd refers to."""
    with open(f"/proc/self/fdinfo/{fd}") as info:
        for line in info:
            if line.startswith("Pid:"):
                return int(line.split()[1])
    raise ValueError("not a pidfd")


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
    host_program()  # the syscall filter, compiled once: every sandbox installs this copy
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
