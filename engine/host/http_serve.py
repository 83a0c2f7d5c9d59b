"""Serve ASGI apps on listening sockets with lambdalet's own HTTP/1.1 server, one app per socket.

The daemon has three listeners (the API on its unix socket, the SigV4-checked API on TCP,
function URLs), must see who connects to the unix socket (`SO_PEERCRED`, logged) and must
limit connections per listener (`engine.host.connections`). Each binding's connections are
served by `engine.host.http1` (one Trio task per connection), each with the binding's
keep-alive timeout (which is also the deadline for a request head).

Cleanup: on `shutdown`, accepting stops (the listeners close), idle keep-alive connections
close, busy ones close after their answer, and in-flight requests get `graceful_timeout_s` to
finish before their tasks are cancelled.
"""

from __future__ import annotations

import functools
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio

from engine.host.connections import ConnectionLimits, GuardedListener
from engine.host.http1.connection import HttpConnection, HttpSettings, ServerState

__all__ = ["Binding", "HttpSettings", "serve_bindings"]


@dataclass(frozen=True, slots=True)
class Binding:
    app: Any  # an ASGI application
    sock: socket.socket  # bound and listening
    limits: ConnectionLimits
    name: str
    keep_alive_timeout_s: float  # idle, and waiting for a request head, at most this long
    log_peer: bool = False  # log each connection's uid and pid (unix sockets)


async def serve_bindings(
    bindings: Sequence[Binding],
    settings: HttpSettings,
    *,
    shutdown: Callable[[], Awaitable[Any]],
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve each binding's app on its socket until `shutdown()` returns."""
    states: list[ServerState] = []
    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            for binding in bindings:
                listener = GuardedListener(
                    trio.SocketListener(trio.socket.from_stdlib_socket(binding.sock)),
                    binding.limits,
                    name=binding.name,
                    log_peer=binding.log_peer,
                )
                state = ServerState(
                    binding.app,
                    settings,
                    name=binding.name,
                    keep_alive_timeout_s=binding.keep_alive_timeout_s,
                )
                states.append(state)
                accepting.start_soon(
                    functools.partial(
                        trio.serve_listeners,
                        functools.partial(serve_connection, state),
                        [listener],
                        handler_nursery=connections,
                    )
                )
            task_status.started()
            await shutdown()
            accepting.cancel_scope.cancel()
        for state in states:
            state.close_idle()
        connections.cancel_scope.deadline = trio.current_time() + settings.graceful_timeout_s


async def serve_connection(state: ServerState, stream: trio.abc.HalfCloseableStream) -> None:
    """Serve one accepted connection until it ends (the handler of `trio.serve_listeners`)."""
    await HttpConnection(state, stream).run()
