"""Serve ASGI apps on listening sockets with hypercorn's HTTP/1.1 protocol, one app per socket.

`hypercorn.trio.serve` takes one app and binds its own sockets; the daemon needs three
(the API on its unix socket, the SigV4-checked API on TCP, function URLs) and must see who
connects to the unix socket (`SO_PEERCRED`, logged). So this wires hypercorn's per-connection
server (`TCPServer`, the same one `serve` uses) to listeners made here. Pinned to the hypercorn
versions whose internals match (see pyproject.toml).

Cleanup: on `shutdown`, accepting stops, idle keep-alive connections close, and in-flight
requests get `graceful_timeout` to finish before their tasks are cancelled.
"""

from __future__ import annotations

import functools
import logging
import socket
import struct
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

logger = logging.getLogger(__name__)

_PEERCRED = struct.Struct("3i")  # struct ucred: pid, uid, gid


@dataclass(frozen=True, slots=True)
class Binding:
    app: Any  # an ASGI application
    sock: socket.socket  # bound and listening
    log_peer: bool = False  # log each connection's uid and pid (unix sockets)


class PeerLoggingListener(trio.abc.Listener[trio.SocketStream]):
    """A unix-socket listener that logs who connected (the kernel's SO_PEERCRED)."""

    def __init__(self, inner: trio.SocketListener, name: str) -> None:
        self.inner = inner
        self.name = name

    async def accept(self) -> trio.SocketStream:
        stream = await self.inner.accept()
        try:
            raw = stream.socket.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            pid, uid, gid = _PEERCRED.unpack(raw)
            logger.info("%s: connection from uid %d gid %d (pid %d)", self.name, uid, gid, pid)
        except OSError as exc:
            logger.warning("%s: cannot read the peer's credentials: %s", self.name, exc)
        return stream

    async def aclose(self) -> None:
        await self.inner.aclose()


async def serve_bindings(
    bindings: Sequence[Binding],
    config: HypercornConfig,
    *,
    shutdown: Callable[[], Awaitable[Any]],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve each binding's app on its socket until `shutdown()` returns."""
    context = WorkerContext(config.max_requests)
    state = ConnectionState({})
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            for binding in bindings:
                listener: trio.abc.Listener[trio.SocketStream]
                listener = trio.SocketListener(trio.socket.from_stdlib_socket(binding.sock))
                if binding.log_peer:
                    listener = PeerLoggingListener(listener, "api socket")
                handler = functools.partial(
                    TCPServer,
                    wrap_app(binding.app, config.wsgi_max_body_size, "asgi"),
                    config,
                    context,
                    state,
                )
                accepting.start_soon(
                    functools.partial(
                        trio.serve_listeners, handler, [listener], handler_nursery=connections
                    )
                )
            task_status.started()
            await shutdown()
            accepting.cancel_scope.cancel()
        await context.terminated.set()
        connections.cancel_scope.deadline = trio.current_time() + config.graceful_timeout
