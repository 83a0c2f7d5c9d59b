"""Serve one environment's HTTP Runtime API from the host, on the listener its sandbox made.

The listener is bound to 127.0.0.1:9001 inside the sandbox's network namespace (see
`sandbox.stem`); we accept on it here, in the daemon, so nothing in the sandbox serves it.
h11 parses, `engine.runtime.http_api.RuntimeApi` decides, and `HttpChannel` turns what the
runtime reports into the same messages a msgpack runtime sends.

Limits (the function is untrusted and can connect as often as it likes): at most
`MAX_CONNECTIONS` connections at once (more wait in the kernel's backlog), 16 KiB of headers,
and request bodies read up to the 6 MiB payload cap and not a byte further.

Resource handling: `HttpChannel.run()` owns the listener and every connection; cancelling
it (`close()`) closes them all.
"""

from __future__ import annotations

import logging
from typing import Final

import h11
import trio

from engine.runtime.http_api import (
    ERROR_TYPE_HEADER,
    MAX_PAYLOAD_BYTES,
    Delivery,
    Reply,
    Request,
    Route,
    RuntimeApi,
    new_trace_id,
    route,
)
from sandbox.protocol import Closed, Invoke, Message

logger = logging.getLogger(__name__)

MAX_CONNECTIONS: Final = 16
MAX_HEADER_BYTES: Final = 16 * 1024
_READ_SIZE: Final = 65536


class _Hangup(Exception):
    """The runtime closed the connection (or broke HTTP): stop serving it."""


class HttpChannel:
    """The environment's view of an HTTP runtime: `receive()` what it reports, `send_invoke()`."""

    def __init__(self, listener: trio.socket.SocketType) -> None:
        self.listener = listener
        self.api = RuntimeApi()
        self._changed = trio.Event()  # set whenever an invocation is offered
        send, recv = trio.open_memory_channel[Message | Closed](64)
        self._events_in, self._events_out = send, recv
        self._scope: trio.CancelScope | None = None
        self._slots = trio.Semaphore(MAX_CONNECTIONS)

    # -- the environment's side -----------------------------------------------------------

    async def receive(self) -> Message | Closed:
        return await self._events_out.receive()

    async def send_invoke(self, inv: Invoke) -> None:
        self.api.offer(inv)
        self._wake()

    def report(self, msg: Message | Closed) -> None:
        """Something learnt outside HTTP (the runtime exited, its exec failed)."""
        try:
            self._events_in.send_nowait(msg)
        except (trio.WouldBlock, trio.ClosedResourceError):
            pass  # the environment has all it will read

    def close(self) -> None:
        if self._scope is not None:
            self._scope.cancel()
        self.listener.close()

    # -- serving ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Accept and serve connections until `close()`."""
        with trio.CancelScope() as self._scope:
            try:
                async with trio.open_nursery() as nursery:
                    while True:
                        await self._slots.acquire()
                        try:
                            sock, _addr = await self.listener.accept()
                        except BaseException:
                            self._slots.release()
                            raise
                        nursery.start_soon(self._serve_connection, trio.SocketStream(sock))
            except OSError as exc:  # the listener went away under us
                logger.debug("runtime API listener closed: %s", exc)
            finally:
                self.listener.close()

    def _wake(self) -> None:
        self._changed.set()
        self._changed = trio.Event()

    def _flush_events(self) -> None:
        while self.api.events:
            self.report(self.api.events.popleft())

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        conn = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_HEADER_BYTES)
        try:
            async with stream:
                while True:
                    request = await _next_event(conn, stream)
                    if not isinstance(request, h11.Request):
                        return
                    keep_going = await self._handle(conn, stream, request)
                    if not keep_going or conn.our_state is not h11.DONE:
                        return
                    try:
                        conn.start_next_cycle()
                    except h11.LocalProtocolError:
                        return
        except (_Hangup, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            self._slots.release()

    async def _handle(
        self, conn: h11.Connection, stream: trio.SocketStream, req: h11.Request
    ) -> bool:
        """Answer one request; False when the connection must close afterwards."""
        routed = route(req.method.decode("ascii", "replace"), req.target.decode("latin-1"))
        body, too_large = await _read_body(conn, stream)
        if isinstance(routed, Reply):
            await _send(conn, stream, routed)
            return not too_large
        if routed.route is Route.NEXT:
            await self._deliver_next(conn, stream)
            return True
        reply = self._answer(routed, req, body, too_large=too_large)
        self._flush_events()
        await _send(conn, stream, reply)
        return not too_large  # the rest of an oversized body is never read: hang up

    def _answer(self, routed: Request, req: h11.Request, body: bytes, *, too_large: bool) -> Reply:
        error_type = _header(req, ERROR_TYPE_HEADER)
        match routed.route:
            case Route.RESPONSE:
                return self.api.respond(routed.request_id, body, too_large=too_large)
            case Route.ERROR:
                return self.api.fail(
                    routed.request_id, body, error_type=error_type, too_large=too_large
                )
            case _:
                return self.api.init_failed(body, error_type=error_type, too_large=too_large)

    async def _deliver_next(self, conn: h11.Connection, stream: trio.SocketStream) -> None:
        """GET next: long-poll until an invocation is offered (no timeout, as on Lambda)."""
        while True:
            changed = self._changed
            outcome = self.api.next(trace_id=new_trace_id())
            self._flush_events()
            if outcome is None:
                await changed.wait()
                continue
            if isinstance(outcome, Reply):
                await _send(conn, stream, outcome)
                return
            break
        assert isinstance(outcome, Delivery)
        try:
            await _send(conn, stream, outcome.reply)
        except BaseException:
            self.api.undeliver(outcome.invoke)
            self._wake()
            raise


def _header(req: h11.Request, name: str) -> str | None:
    for key, value in req.headers:
        if key == name.encode():
            return value.decode("latin-1").strip() or None
    return None


async def _next_event(conn: h11.Connection, stream: trio.SocketStream) -> object:
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            await _send_protocol_error(conn, stream, exc)
            raise _Hangup from exc
        if event is h11.NEED_DATA:
            if conn.they_are_waiting_for_100_continue:
                await stream.send_all(
                    conn.send(h11.InformationalResponse(status_code=100, headers=[])) or b""
                )
            conn.receive_data(await stream.receive_some(_READ_SIZE))
            continue
        return event


async def _read_body(conn: h11.Connection, stream: trio.SocketStream) -> tuple[bytes, bool]:
    """The request body, up to the payload cap; (body, True) once it goes past the cap."""
    chunks: list[bytes] = []
    size = 0
    while True:
        event = await _next_event(conn, stream)
        if isinstance(event, h11.Data):
            size += len(event.data)
            if size > MAX_PAYLOAD_BYTES:
                return b"", True
            chunks.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            return b"".join(chunks), False
        else:
            raise _Hangup


async def _send(conn: h11.Connection, stream: trio.SocketStream, reply: Reply) -> None:
    headers = [*reply.headers, (b"content-length", str(len(reply.body)).encode())]
    data = conn.send(h11.Response(status_code=reply.status, headers=headers)) or b""
    data += conn.send(h11.Data(data=reply.body)) or b""
    data += conn.send(h11.EndOfMessage()) or b""
    await stream.send_all(data)


async def _send_protocol_error(
    conn: h11.Connection, stream: trio.SocketStream, exc: h11.RemoteProtocolError
) -> None:
    if conn.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
        return
    status = exc.error_status_hint
    reply = Reply(status, body=b'{"errorType":"BadRequest","errorMessage":"malformed HTTP"}')
    try:
        await _send(conn, stream, reply)
    except (h11.LocalProtocolError, trio.BrokenResourceError, trio.ClosedResourceError):
        pass
