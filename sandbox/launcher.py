"""The supervisor's side of the spawner: start it by exec, ask it for sandboxes (Trio).

`open_spawner()` starts ``python -I -m sandbox.spawner`` once and yields a `Spawner`;
`Spawner.make_stem()` forks a prepared sandbox ahead of demand, and `Spawner.specialize()`
turns it into one function's sandbox: a `SandboxProcess` holding the Runtime API stream,
the read end of the runtime's stdout/stderr pipe and the stem's exit event.

Resource handling: closing the context closes the control socket; the spawner then kills
every sandbox it still owns and exits, and we wait for it (bounded, then SIGKILL).
"""

from __future__ import annotations

import array
import logging
import os
import socket
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack
import trio

from sandbox.control import encode_request
from sandbox.errors import SandboxError, SpawnerError
from sandbox.rootfs import clone_tree
from sandbox.spec import EXIT_SETUP_FAILED, MAX_CONTROL_PACKET, InitFds, SandboxSpec, StemSpec

logger = logging.getLogger(__name__)

SPAWNER_STOP_S = 5.0
MAX_EARLY_EXITS = 1024  # ends of environments not registered yet, remembered
SPAWNER_ENV: Final = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


@dataclass(eq=False, kw_only=True)
class Stem:
    """A prepared sandbox waiting in the spawner to be specialized."""

    sandbox_id: str
    pid: int  # host pid of the stem's init (pid 1 inside)
    exited: trio.Event = field(default_factory=trio.Event)
    exit_status: int | None = None  # raw wait status of init, once exited

    @property
    def setup_failed(self) -> bool:
        """Init exited because building the sandbox failed (not the function's fault)."""
        status = self.exit_status
        return (
            status is not None
            and os.WIFEXITED(status)
            and os.WEXITSTATUS(status) == EXIT_SETUP_FAILED
        )

    def exit_description(self) -> str:
        """Lambda's wording: 'signal: killed', 'exit status 1'."""
        status = self.exit_status
        if status is None:
            return "still running"
        if os.WIFSIGNALED(status):
            sig = os.WTERMSIG(status)
            return "signal: killed" if sig == 9 else f"signal: {_signal_name(sig)}"
        code = os.waitstatus_to_exitcode(status)
        if code > 128:  # init reports the runtime's fatal signal as 128 + n
            sig = code - 128
            return "signal: killed" if sig == 9 else f"signal: {_signal_name(sig)}"
        return f"exit status {code}"


@dataclass(eq=False, kw_only=True)
class SandboxProcess:
    """A specialized sandbox as the supervisor sees it."""

    stem: Stem
    stream: trio.SocketStream  # the Runtime API socket
    log_fd: int  # non-blocking read end of the runtime's stdout/stderr

    @property
    def sandbox_id(self) -> str:
        return self.stem.sandbox_id

    @property
    def exited(self) -> trio.Event:
        return self.stem.exited

    def exit_description(self) -> str:
        return self.stem.exit_description()


def _signal_name(sig: int) -> str:
    import signal

    try:
        return signal.Signals(sig).name.removeprefix("SIG").lower()
    except ValueError:
        return str(sig)


class Spawner:
    def __init__(self, control: trio.socket.SocketType) -> None:
        self._control = control
        self._pending: dict[str, trio.MemorySendChannel[dict[str, object]]] = {}
        self._running: dict[str, Stem] = {}
        # Ends reported before their stem was registered (an environment that died between
        # its template's answer and `shell` reading it): id -> wait status.
        self._early_exits: dict[str, int] = {}
        self._send_lock = trio.Lock()
        self.broken = False

    async def _request(
        self,
        sandbox_id: str,
        header: dict[str, Any],
        payload: bytes = b"",
        fds: list[int] | None = None,
    ) -> dict[str, object]:
        if self.broken:
            raise SpawnerError("the spawner has exited; restart the daemon")
        send, recv = trio.open_memory_channel[dict[str, object]](1)
        self._pending[sandbox_id] = send
        try:
            packet = encode_request(header, payload)
            ancillary = []
            if fds:
                data = array.array("i", fds).tobytes()
                ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, data)]
            async with self._send_lock:
                await self._control.sendmsg([packet], ancillary)
            return await recv.receive()
        finally:
            self._pending.pop(sandbox_id, None)

    async def make_stem(self, stem_spec: StemSpec) -> Stem:
        """Fork a stem; returns once its init exists (it prepares itself in the background)."""
        reply = await self._request(
            stem_spec.sandbox_id,
            {"op": "stem", "id": stem_spec.sandbox_id, "stem": stem_spec.to_wire()},
        )
        if reply.get("op") != "stem_forked":
            raise SandboxError(f"spawner could not fork stem {stem_spec.sandbox_id}: {reply}")
        pid = reply["pid"]
        assert isinstance(pid, int)
        stem = Stem(sandbox_id=stem_spec.sandbox_id, pid=pid)
        self._running[stem.sandbox_id] = stem
        return stem

    async def specialize(
        self, stem: Stem, spec: SandboxSpec, *, netns_fd: int | None = None
    ) -> SandboxProcess:
        """Turn `stem` into the sandbox `spec` describes; returns its Runtime API stream.
        With `spec.netns`, `netns_fd` is the network namespace its runtime joins (the caller
        keeps its own reference).

        The code, runtime and /opt trees are cloned here (detached read-only mounts), and the
        spec travels packed as an opaque payload that the spawner relays unread (see
        `sandbox.control`): the spawner, whose memory every sandbox inherits, never holds a
        function's configuration."""
        if spec.sandbox_id != stem.sandbox_id:
            raise ValueError("a spec specializes the stem with its own sandbox_id")
        if spec.netns != (netns_fd is not None):
            raise ValueError("spec.netns and netns_fd go together")
        parent_sock, child_sock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe2(os.O_CLOEXEC)
        trees: list[int] = []
        try:
            trees.append(clone_tree(spec.code_dir))
            trees.append(clone_tree(spec.runtime_dir))
            if spec.opt_dir:
                trees.append(clone_tree(spec.opt_dir))
            to_init = InitFds(
                runtime=child_sock.fileno(),
                log=log_w,
                code_tree=trees[0],
                runtime_tree=trees[1],
                opt_tree=trees[2] if spec.opt_dir else None,
                netns=netns_fd,
            )
            payload: bytes = msgpack.packb(spec.to_wire(), use_bin_type=True)
            header = {"op": "specialize", "id": spec.sandbox_id}
            reply = await self._request(spec.sandbox_id, header, payload, to_init.to_list())
        except BaseException:
            parent_sock.close()
            os.close(log_r)
            raise
        finally:
            child_sock.close()
            os.close(log_w)
            for tree in trees:
                os.close(tree)
        if reply.get("op") != "specialized":
            parent_sock.close()
            os.close(log_r)
            raise SandboxError(f"spawner could not specialize {spec.sandbox_id}: {reply}")
        os.set_blocking(log_r, False)
        return SandboxProcess(
            stem=stem,
            stream=trio.SocketStream(trio.socket.from_stdlib_socket(parent_sock)),
            log_fd=log_r,
        )

    async def template_request(
        self, stem: Stem, request: dict[str, Any], fds: list[int] | None = None
    ) -> dict[str, Any]:
        """One request to a template's init (`sandbox.snapshot.template`); its answer.
        Requests to one template must not overlap (the caller serializes them)."""
        header = {"op": "template", "id": stem.sandbox_id, "request": request}
        reply = await self._request(stem.sandbox_id, header, b"", fds)
        if reply.get("op") != "template_reply":
            raise SandboxError(f"template {stem.sandbox_id}: {reply.get('error', reply)}")
        answer = reply["reply"]
        assert isinstance(answer, dict)
        if answer.get("op") == "failed":
            raise SandboxError(f"template {stem.sandbox_id}: {answer.get('error')}")
        return answer

    async def shell(
        self, template: Stem, env_id: str, request: dict[str, Any], fds: list[int]
    ) -> tuple[dict[str, Any], Stem]:
        """Have a template make an environment (`request`: a "shell" one, with its cgroup.procs
        files, runtime socket and log pipe in `fds`): the template's answer, and the
        environment as a stem (`env_id`): `kill` ends it, `exited` tells its end."""
        answer = await self.template_request(template, {**request, "env_id": env_id}, fds)
        env = Stem(sandbox_id=env_id, pid=int(answer["host_pid"]))
        if (status := self._early_exits.pop(env_id, None)) is not None:
            env.exit_status = status
            env.exited.set()
        else:
            self._running[env_id] = env
        return answer, env

    async def kill(self, stem: Stem) -> None:
        """SIGKILL the sandbox's init: the kernel then kills its whole pid namespace."""
        if stem.exited.is_set() or self.broken:
            return
        packet = encode_request({"op": "kill", "id": stem.sandbox_id})
        async with self._send_lock:
            await self._control.send(packet)

    async def _read_replies(self, *, task_status: trio.TaskStatus[None]) -> None:
        task_status.started()
        try:
            while True:
                data = await self._control.recv(MAX_CONTROL_PACKET)
                if not data:
                    break
                msg = msgpack.unpackb(data, raw=False)
                sandbox_id = str(msg.get("id"))
                if msg.get("op") == "exited":
                    stem = self._running.pop(sandbox_id, None)
                    if stem is not None:
                        stem.exit_status = int(msg["status"])
                        stem.exited.set()
                    elif len(self._early_exits) < MAX_EARLY_EXITS:
                        self._early_exits[sandbox_id] = int(msg["status"])
                elif sandbox_id in self._pending:
                    self._pending[sandbox_id].send_nowait(msg)
                else:
                    logger.warning("unexpected message from the spawner: %r", msg)
        finally:
            self.broken = True
            for stem in self._running.values():
                stem.exited.set()
            for chan in self._pending.values():
                try:
                    chan.send_nowait({"op": "failed", "error": "spawner exited"})
                except trio.WouldBlock:
                    pass


@asynccontextmanager
async def open_spawner(*, tag: str, python: str | None = None) -> AsyncIterator[Spawner]:
    """Start the spawner process and yield a client for it.

    `tag` (the daemon's cgroup parent, e.g. "lambdalet") goes on the spawner's command line
    so that leak sweeps can find and attribute it.
    """
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    fd = str(theirs.fileno())
    cmd = [python or sys.executable, "-I", "-m", "sandbox.spawner", fd, f"--tag={tag}"]
    # An explicit environment, not the daemon's: every sandbox inherits the spawner's initial
    # environment block (/proc/self/environ), and whatever the operator exported stays out.
    process = await trio.lowlevel.open_process(
        cmd, pass_fds=(theirs.fileno(),), env=dict(SPAWNER_ENV)
    )
    theirs.close()
    control = trio.socket.from_stdlib_socket(ours)
    spawner = Spawner(control)
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(spawner._read_replies)
            try:
                yield spawner
            finally:
                # EOF tells the spawner to kill its sandboxes and exit; our reader then
                # sees its EOF and ends.
                control.shutdown(socket.SHUT_WR)
                with trio.CancelScope(shield=True):
                    with trio.move_on_after(SPAWNER_STOP_S):
                        await process.wait()
                    if process.returncode is None:
                        logger.error("spawner did not stop in %.0f s; killing it", SPAWNER_STOP_S)
                        process.kill()
                        await process.wait()
                nursery.cancel_scope.cancel()
    finally:
        control.close()
