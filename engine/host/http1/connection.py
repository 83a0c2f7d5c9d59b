"""One HTTP/1.1 connection served by one Trio task: requests parsed by `RequestParser`, each
handed to an ASGI app in that same task (no task per request), answers written in order.

A complete answer (`more_body` False on its first body message) leaves in one send, head and
body together; a streamed one is chunked unless the app set a Content-Length (HTTP/1.0:
close-delimited). A body the app did not read is read and discarded after the answer, up to
`drain_limit_bytes`, so the connection is kept; beyond that the answer says
`connection: close`. A client that sent `Expect: 100-continue` gets its `100 Continue` when the
app first asks for the body. A malformed request is answered 400 (431, 413, 501, 505 for the
limits) and the connection closes; an app that raises gets a 500 if nothing was sent yet, and
the connection closes.

Cleanup: the connection's stream is closed when `run()` returns, however it ends. When the
server answered without reading everything the client sent (a refusal, a big unread body),
it first shuts its side down and reads for up to `LINGER_S`, so that closing does not reset
the connection under an answer the client has not read yet (TCP).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

import trio

from engine.host.connections import GuardedStream
from engine.host.http1 import framing
from engine.host.http1.errors import LocalProtocolError, RemoteProtocolError
from engine.host.http1.parser import (
    END_OF_MESSAGE,
    NEED_DATA,
    Data,
    RequestHead,
    RequestParser,
)

logger = logging.getLogger(__name__)

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

RECEIVE_BYTES: Final = 64 * 1024
LINGER_S: Final = 1.0
_LINGER_BYTES: Final = 16 * 1024 * 1024
_DISCONNECT: Final = {"type": "http.disconnect"}


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpSettings:
    """How every listener's connections are served."""

    graceful_timeout_s: float = 3.0  # at shutdown, in-flight requests' time to finish
    max_head_bytes: int = 64 * 1024  # a bigger request head is answered 431
    max_body_bytes: int | None = None  # a bigger body is answered 413 (None: the apps decide)
    drain_limit_bytes: int = 8 * 1024 * 1024  # an unread body up to this is discarded, kept


class ServerState:
    """What a listener's connections share: the app, the settings, and shutdown."""

    def __init__(
        self, app: App, settings: HttpSettings, *, name: str, keep_alive_timeout_s: float
    ) -> None:
        self.app = app
        self.settings = settings
        self.name = name
        self.keep_alive_timeout_s = keep_alive_timeout_s
        self.closing = False
        self.connections: set[HttpConnection] = set()

    def close_idle(self) -> None:
        """Shutting down: idle connections close now, busy ones after their answer."""
        self.closing = True
        for connection in list(self.connections):
            connection.close_if_idle()


class HttpConnection:
    def __init__(self, state: ServerState, stream: trio.abc.HalfCloseableStream) -> None:
        self.state = state
        self.stream = stream  # closed through it (a GuardedStream forgets itself then)
        self.guard = stream if isinstance(stream, GuardedStream) else None
        # Reads and writes skip the guard's wrapper (the server tells it what it needs).
        self.io: trio.abc.HalfCloseableStream = (
            self.guard.inner if self.guard is not None else stream
        )
        settings = state.settings
        self.parser = RequestParser(
            max_head_bytes=settings.max_head_bytes, max_body_bytes=settings.max_body_bytes
        )
        sock = getattr(stream, "socket", None)
        self.client, self.server = _addresses(sock)
        self._idle: trio.CancelScope | None = None
        self._linger = False
        self._exchange: Exchange | None = None

    def close_if_idle(self) -> None:
        if self._idle is not None:
            self._idle.cancel()

    async def run(self) -> None:
        self.state.connections.add(self)
        try:
            while True:
                head = await self._next_head()
                if head is None or not await self._serve(head):
                    break
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away (or was evicted)
        except Exception:  # the connection's boundary: one connection never stops the server
            logger.exception("%s: a connection failed", self.state.name)
        finally:
            self.state.connections.discard(self)
            await self._close()

    async def _next_head(self) -> RequestHead | None:
        parser = self.parser
        deadline = trio.current_time() + self.state.keep_alive_timeout_s
        if self.guard is not None:
            self.guard.owes_head()
        while True:
            try:
                event = parser.next_event()
            except RemoteProtocolError as exc:
                await self._refuse(exc)
                return None
            if event is NEED_DATA:
                if self.state.closing and not parser.buffered:
                    return None
                with trio.CancelScope(deadline=deadline) as idle:
                    self._idle = idle
                    data = await self.io.receive_some(RECEIVE_BYTES)
                self._idle = None
                if idle.cancelled_caught:
                    return None  # the keep-alive (or head) deadline passed, or shutdown
                parser.receive_data(data)
            elif type(event) is RequestHead:
                if self.guard is not None:
                    self.guard.head_received()
                return event
            else:
                return None  # the client closed between requests

    async def _serve(self, head: RequestHead) -> bool:
        """Run the app on one request; whether the connection may serve another."""
        exchange = Exchange(self, head)
        try:
            await self.state.app(exchange.scope(), exchange.receive, exchange.send)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return False
        except Exception:
            logger.exception(
                "%s: the app failed on %s %s",
                self.state.name,
                head.method.decode("ascii"),
                head.target.decode("ascii"),
            )
            if not exchange.head_sent:
                await self._send_error(500, "the server failed to answer")
            return False
        if not exchange.complete:
            if not exchange.head_sent:
                error = exchange.request_error
                if error is None:
                    logger.error("%s: the app returned without an answer", self.state.name)
                    await self._send_error(500, "the server failed to answer")
                else:
                    await self._send_error(error.status, error.reason)
            return False
        if not exchange.keep_alive:
            self._linger = not exchange.body_done
            return False
        if not exchange.body_done:
            return await self._discard_body()
        self.parser.start_next()
        return True

    async def _discard_body(self) -> bool:
        """Read the rest of a body nobody read, within the limit and the keep-alive deadline."""
        parser = self.parser
        left = self.state.settings.drain_limit_bytes
        with trio.move_on_after(self.state.keep_alive_timeout_s):
            while True:
                try:
                    event = parser.next_event()
                except RemoteProtocolError:
                    return False
                if event is NEED_DATA:
                    data = await self.io.receive_some(RECEIVE_BYTES)
                    parser.receive_data(data)
                elif type(event) is Data:
                    left -= len(event.data)
                    if left < 0:
                        self._linger = True
                        return False
                else:
                    parser.start_next()
                    return True
        return False

    async def _refuse(self, error: RemoteProtocolError) -> None:
        logger.info("%s: refused a request: %s", self.state.name, error)
        self._linger = True
        await self._send_error(error.status, error.reason)

    async def _send_error(self, status: int, reason: str) -> None:
        self._linger = True
        await self.io.send_all(framing.error_response(status, reason))

    async def _close(self) -> None:
        try:
            if self._linger:
                await self._linger_a_moment()
        finally:
            with trio.CancelScope(shield=True):
                await self.stream.aclose()

    async def _linger_a_moment(self) -> None:
        """Shut our side, then read what the client still sends for a moment: closing with
        unread bytes would reset a TCP connection under an answer not yet read."""
        with trio.move_on_after(LINGER_S):
            try:
                await self.io.send_eof()
                read = 0
                while read < _LINGER_BYTES:
                    data = await self.io.receive_some(RECEIVE_BYTES)
                    if not data:
                        break
                    read += len(data)
            except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
                pass


class Exchange:
    """One request and its answer: the ASGI scope, `receive` and `send` of the app's call."""

    def __init__(self, connection: HttpConnection, head: RequestHead) -> None:
        self.connection = connection
        self.head = head
        self.body_done = False  # EndOfMessage returned (a request without a body has one too)
        self.continue_owed = head.expect_continue and (bool(head.content_length) or head.chunked)
        self.request_error: RemoteProtocolError | None = None
        self.started = False  # http.response.start seen
        self.head_sent = False
        self.complete = False
        self.keep_alive = head.keep_alive
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.mode = ""  # of a streamed body: "length", "chunked", "close", "none"
        self.length_left = 0
        self._done: trio.Event | None = None

    def scope(self) -> dict[str, Any]:
        head = self.head
        path, _, query = head.target.partition(b"?")
        text = path.decode("ascii")
        return {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": head.http_version,
            "method": head.method.decode("ascii"),
            "scheme": "http",
            "path": unquote(text) if "%" in text else text,
            "raw_path": path,
            "query_string": query,
            "root_path": "",
            "headers": head.headers,
            "client": self.connection.client,
            "server": self.connection.server,
            "extensions": {},
        }

    async def receive(self) -> Message:
        if self.body_done or self.request_error is not None:
            if not self.complete:  # as ASGI wants: wait until the answer is over
                if self._done is None:
                    self._done = trio.Event()
                await self._done.wait()
            return dict(_DISCONNECT)
        connection = self.connection
        parser = connection.parser
        if self.continue_owed:
            self.continue_owed = False
            if not self.started:
                await connection.io.send_all(framing.CONTINUE)
        parts: list[bytes] = []
        while True:
            try:
                event = parser.next_event()
            except RemoteProtocolError as exc:
                self.request_error = exc
                self.keep_alive = False
                return dict(_DISCONNECT)
            if event is NEED_DATA:
                if parts:
                    return {"type": "http.request", "body": b"".join(parts), "more_body": True}
                try:
                    data = await connection.io.receive_some(RECEIVE_BYTES)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    data = b""
                parser.receive_data(data)
            elif type(event) is Data:
                parts.append(event.data)
            else:
                assert event is END_OF_MESSAGE
                self.body_done = True
                body = parts[0] if len(parts) == 1 else b"".join(parts)
                return {"type": "http.request", "body": body, "more_body": False}

    async def send(self, message: Message) -> None:
        kind = message["type"]
        if kind == "http.response.body":
            if not self.started or self.complete:
                raise LocalProtocolError("a response body outside a response")
            body = message.get("body", b"")
            more = message.get("more_body", False)
            data = self._next(body, more) if self.head_sent else self._first(body, more)
            if not more:
                self.complete = True
            if data:
                await self.connection.io.send_all(data)
            if self.complete and self._done is not None:
                self._done.set()
        elif kind == "http.response.start":
            if self.started:
                raise LocalProtocolError("http.response.start sent twice")
            self.started = True
            self.status = int(message["status"])
            self.headers = list(message.get("headers", ()))
        else:
            raise LocalProtocolError(f"unexpected ASGI message {kind!r}")

    def _first(self, body: bytes, more: bool) -> bytes:
        """The head (and the body's first piece), framed."""
        self.head_sent = True
        head, status = self.head, self.status
        self._decide_keep_alive()
        declared = framing.declared_length(self.headers)
        if not framing.body_allowed(head.method, status):
            self.mode = "none"
            keep = declared if head.method == b"HEAD" and status >= 200 else None
            if status in (204, 304):
                keep = None
            return self._head(keep, chunked=False)
        if not more:
            if declared is not None and declared != len(body):
                raise LocalProtocolError(f"Content-Length {declared}, body of {len(body)} bytes")
            return self._head(len(body), chunked=False) + body
        if declared is not None:
            self.mode = "length"
            self.length_left = declared
            return self._head(declared, chunked=False) + self._counted(body)
        if head.http_version == "1.1":
            self.mode = "chunked"
            return self._head(None, chunked=True) + framing.chunk(body)
        self.mode = "close"
        self.keep_alive = False
        return self._head(None, chunked=False) + body

    def _next(self, body: bytes, more: bool) -> bytes:
        mode = self.mode
        if mode == "chunked":
            return framing.chunk(body) + (b"" if more else framing.LAST_CHUNK)
        if mode == "length":
            data = self._counted(body)
            if not more and self.length_left:
                self.keep_alive = False
                raise LocalProtocolError(f"the body ended {self.length_left} bytes short")
            return data
        if mode == "close":
            return body
        return b""

    def _counted(self, body: bytes) -> bytes:
        self.length_left -= len(body)
        if self.length_left < 0:
            raise LocalProtocolError("a body longer than its Content-Length")
        return body

    def _head(self, content_length: int | None, *, chunked: bool) -> bytes:
        return framing.response_head(
            self.head.http_version,
            self.status,
            self.headers,
            content_length=content_length,
            chunked=chunked,
            keep_alive=self.keep_alive,
        )

    def _decide_keep_alive(self) -> None:
        """Whether this answer keeps the connection (it says so in its head)."""
        connection = self.connection
        if not self.keep_alive or connection.state.closing or self.request_error is not None:
            self.keep_alive = False
        elif not self.body_done:
            if self.continue_owed:
                self.keep_alive = False  # the client may never send the body it announced
            else:
                left = connection.parser.body_remaining
                if left is not None and left > connection.state.settings.drain_limit_bytes:
                    self.keep_alive = False


def _addresses(sock: Any) -> tuple[tuple[str, int] | None, tuple[str, int] | None]:
    """ASGI's `client` and `server`: (host, port) on TCP, None on a unix socket."""
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return None, None
    try:
        peer = sock.getpeername()
        own = sock.getsockname()
    except OSError:
        return None, None
    return (str(peer[0]), int(peer[1])), (str(own[0]), int(own[1]))
