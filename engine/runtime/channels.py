"""How an environment talks to its runtime: the msgpack stream, or AWS's HTTP Runtime API.

Both are a `RuntimeChannel`: `send_invoke()` one invocation, `receive()` what the runtime
reports (`Ready`, `InitError`, `Response`, `FunctionError`, `SetupFailed`, or `Closed` when
it is gone), so `engine.runtime.environment` has one code path for every language.

* `MsgpackChannel`: the in-process Python runtime and exec'd runtimes (node, other
  pythons) speaking `sandbox.protocol` on their socket; `Log` frames go to the log.
* `open_http_channel()`: a runtime that speaks HTTP. The sandbox's set-up sends `Listening`
  with the listener attached, then the runtime is exec'd and the stream closes; a failed
  exec reports `InitError` on it first. The runtime's exit (`Closed`) comes from the stem.
"""

from __future__ import annotations

import array
import os
import socket
from typing import Protocol

import trio

from engine.runtime.http_server import HttpChannel
from engine.runtime.logs import LogStream
from sandbox.launcher import SandboxProcess
from sandbox.protocol import (
    Closed,
    Connection,
    Invoke,
    Listening,
    Log,
    Message,
    NeedData,
    RemoteProtocolError,
)

_READ_SIZE = 1 << 20
# What every msgpack channel reads into: one event loop, and each read is copied out before
# the next await, so one buffer serves every environment (not a megabyte each).
_SCRATCH = bytearray(_READ_SIZE)


class RuntimeChannel(Protocol):
    async def receive(self) -> Message | Closed: ...
    async def send_invoke(self, inv: Invoke) -> None: ...
    def close(self) -> None: ...


class MsgpackChannel:
    """The msgpack stream, read and written on its descriptor directly (the hot path of every
    warm invoke): a send that fits the socket's buffer returns without yielding to Trio, and
    a receive waits once for readability instead of trying, waiting and yielding again as
    `trio.SocketStream` does. Every read follows a wait, so a runtime that floods the stream
    with output cannot starve the event loop (nor its invoke's timeout)."""

    def __init__(self, stream: trio.SocketStream, log: LogStream) -> None:
        self.stream = stream
        self.log = log
        self.conn = Connection()

    def _fd(self) -> int:
        fd = self.stream.socket.fileno()
        if fd < 0:  # closed by the pool: the number may belong to someone else by now
            raise trio.ClosedResourceError("the Runtime API socket is closed")
        return fd

    async def receive(self) -> Message | Closed:
        conn = self.conn
        while True:
            event = conn.next_event()
            if isinstance(event, NeedData):
                await trio.lowlevel.wait_readable(self._fd())
                try:
                    size = os.readv(self._fd(), [_SCRATCH])
                except BlockingIOError:
                    continue
                except OSError:  # reset: the runtime is gone
                    size = 0
                conn.receive_data(memoryview(_SCRATCH)[:size])  # copied before any await
                continue
            if isinstance(event, Log):
                self.log.write(event.data)
                continue
            return event

    async def send_invoke(self, inv: Invoke) -> None:
        await self.send(inv)

    async def send(self, msg: Message) -> None:
        data = memoryview(self.conn.send(msg))
        while data:
            try:
                sent = os.write(self._fd(), data)
            except BlockingIOError:
                await trio.lowlevel.wait_writable(self._fd())
                continue
            except OSError as exc:
                raise trio.BrokenResourceError(f"the runtime is gone: {exc}") from exc
            data = data[sent:]

    def close(self) -> None:
        pass  # the stream is the sandbox process's; the pool closes it


async def _receive_with_fds(
    sock: trio.socket.SocketType, conn: Connection
) -> tuple[Message | Closed, list[int]]:
    """The first message on the stream and any descriptors that came with it."""
    fds: list[int] = []
    while True:
        event = conn.next_event()
        if not isinstance(event, NeedData):
            return event, fds
        try:
            data, ancdata, _flags, _addr = await sock.recvmsg(
                _READ_SIZE, socket.CMSG_SPACE(4 * array.array("i").itemsize)
            )
        except OSError:
            data, ancdata = b"", []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                got = array.array("i")
                got.frombytes(payload[: len(payload) - len(payload) % got.itemsize])
                fds.extend(got)
        conn.receive_data(data)


async def open_http_channel(
    proc: SandboxProcess, nursery: trio.Nursery
) -> HttpChannel | Message | Closed:
    """Take the listener the sandbox hands over and start serving it. If the sandbox
    reports something else first (its set-up failed), that message is returned instead."""
    conn = Connection()
    first, fds = await _receive_with_fds(proc.stream.socket, conn)
    listeners = [socket.socket(fileno=fd) for fd in fds]
    listener = listeners[0] if len(listeners) == 1 else None
    usable = (
        isinstance(first, Listening)
        and listener is not None
        and listener.type == socket.SOCK_STREAM
        and listener.family == socket.AF_INET
    )
    if not usable or listener is None:
        for s in listeners:
            s.close()
        # A Listening without exactly one TCP listener is a broken sandbox.
        return Closed() if isinstance(first, Listening) else first
    channel = HttpChannel(trio.socket.from_stdlib_socket(listener))
    nursery.start_soon(channel.run)
    nursery.start_soon(_watch_runtime, proc, conn, channel)
    return channel


async def _watch_runtime(proc: SandboxProcess, conn: Connection, channel: HttpChannel) -> None:
    """Relay what the set-up reports before the exec; then report `Closed` at exit."""
    while True:
        try:
            event = conn.next_event()
        except RemoteProtocolError:
            break
        if isinstance(event, Closed):
            break
        if isinstance(event, NeedData):
            try:
                conn.receive_data(await proc.stream.receive_some(_READ_SIZE))
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                conn.receive_data(b"")
            continue
        channel.report(event)
    await proc.exited.wait()
    channel.report(Closed())
