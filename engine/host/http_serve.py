"""Serve ASGI apps on listening sockets with hypercorn's HTTP/1.1 protocol, one app per socket.

`hypercorn.trio.serve` takes one app and binds its own sockets; the daemon needs three
(the API on its unix socket, the SigV4-checked API on TCP, function URLs), must see who
connects to the unix socket (`SO_PEERCRED`, logged) and must limit connections per listener
(`engine.host.connections`). So this wires hypercorn's per-connection server (`TCPServer`, the
same one `serve` uses) to listeners made here, each with its own keep-alive timeout (which is
also the deadline for a request head). Pinned to the hypercorn versions whose internals match
(see pyproject.toml).

Cleanup: on `shutdown`, accepting stops, idle keep-alive connections close, and in-flight
requests get `graceful_timeout` to finish before their tasks are cancelled.
"""

from __future__ import annotations

import copy
import functools
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio.tcp_server import TCPServer
from hypercorn.trio.worker_context import WorkerContext
from hypercorn.typing import ConnectionState
from hypercorn.utils import wrap_app

from engine.host.connections import ConnectionLimits, GuardedListener
from engine.host.drain import DrainUnreadBody

logger = logging.getLogger(__name__)


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
                listener = GuardedListener(
                    trio.SocketListener(trio.socket.from_stdlib_socket(binding.sock)),
                    binding.limits,
                    name=binding.name,
                    log_peer=binding.log_peer,
                )
                own = copy.copy(config)
                own.keep_alive_timeout = binding.keep_alive_timeout_s
                handler = functools.partial(
                    TCPServer,
                    wrap_app(_drained(binding.app), config.wsgi_max_body_size, "asgi"),
                    own,
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


def _drained(app: Any) -> Any:
    """`app` answering on kept-alive connections also when it ignores a request body."""
    return DrainUnreadBody(app)
