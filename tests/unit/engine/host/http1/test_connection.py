"""The HTTP/1.1 connection loop on a real unix socket (and TCP), through `serve_bindings`:
keep-alive, pipelining, 100-continue, unread bodies, streaming, errors, limits, shutdown."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, MutableMapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from engine.host.connections import ConnectionLimits
from engine.host.http1.connection import HttpSettings
from engine.host.http_serve import Binding, serve_bindings

Scope = MutableMapping[str, Any]
LIMITS = ConnectionLimits(max_connections=16)


@dataclass
class Served:
    path: str
    stop: trio.Event
    streams: list[trio.SocketStream] = field(default_factory=list)

    async def connect(self) -> trio.SocketStream:
        stream = await trio.open_unix_socket(self.path)
        self.streams.append(stream)  # closed when serving() ends
        return stream


@asynccontextmanager
async def serving(
    tmp_path: Path,
    app: Any,
    *,
    limits: ConnectionLimits = LIMITS,
    keep_alive_s: float = 10.0,
    settings: HttpSettings | None = None,
) -> AsyncIterator[Served]:
    path = os.fspath(tmp_path / "api.sock")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(path)
    sock.listen(64)
    served = Served(path, trio.Event())
    binding = Binding(app, sock, limits, name="test", keep_alive_timeout_s=keep_alive_s)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: serve_bindings(
                [binding],
                settings or HttpSettings(graceful_timeout_s=1.0),
                shutdown=served.stop.wait,
                task_status=task_status,
            )
        )
        try:
            yield served
        finally:
            served.stop.set()
            for stream in served.streams:
                await stream.aclose()


async def echo(scope: Scope, receive: Any, send: Any) -> None:
    """Answers with the method, the path and the whole body."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    out = scope["method"].encode() + b" " + scope["raw_path"] + b" " + body
    await send({"type": "http.response.start", "status": 200, "headers": [(b"x-a", b"1")]})
    await send({"type": "http.response.body", "body": out})


async def ignores_body(scope: Scope, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


class Reader:
    def __init__(self, stream: trio.SocketStream) -> None:
        self.stream = stream
        self.buf = b""

    async def _more(self) -> None:
        with trio.fail_after(5):
            data = await self.stream.receive_some(65536)
        if not data:
            raise EOFError(self.buf)
        self.buf += data

    async def response(self) -> tuple[int, dict[bytes, bytes], bytes]:
        while b"\r\n\r\n" not in self.buf:
            await self._more()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1])
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            assert name.lower() not in headers, f"duplicate header {name!r}"
            headers[name.lower()] = value.strip()
        if b"content-length" in headers:
            length = int(headers[b"content-length"])
            while len(self.buf) < length:
                await self._more()
            body, self.buf = self.buf[:length], self.buf[length:]
        elif headers.get(b"transfer-encoding") == b"chunked":
            body = b""
            while True:
                while b"\r\n" not in self.buf:
                    await self._more()
                size_line, _, self.buf = self.buf.partition(b"\r\n")
                size = int(size_line, 16)
                while len(self.buf) < size + 2:
                    await self._more()
                body += self.buf[:size]
                self.buf = self.buf[size + 2 :]
                if size == 0:
                    break
        else:
            body = b""
        return status, headers, body

    async def closed(self) -> bool:
        try:
            while True:
                await self._more()
        except EOFError:
            return True
        except trio.BrokenResourceError:
            return True
        except trio.TooSlowError:
            return False


def post(path: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n%s" % (
        path,
        len(body),
        extra,
        body,
    )


async def test_keep_alive_and_pipelined_requests_in_order(tmp_path: Path) -> None:
    async with serving(tmp_path, echo) as served:
        stream = await served.connect()
        reader = Reader(stream)
        await stream.send_all(post(b"/one", b"1"))
        status, headers, body = await reader.response()
        assert (status, headers[b"x-a"], body) == (200, b"1", b"POST /one 1")
        assert set(headers) == {b"x-a", b"content-length", b"date"}
        await stream.send_all(post(b"/two", b"22") + post(b"/three", b"333") + post(b"/4", b""))
        for expected in (b"POST /two 22", b"POST /three 333", b"POST /4 "):
            status, headers, body = await reader.response()
            assert (status, body) == (200, expected)
            assert b"connection" not in headers
        await stream.aclose()


async def test_a_complete_answer_leaves_in_one_send(tmp_path: Path) -> None:
    sends: list[bytes] = []
    original = trio.SocketStream.send_all

    async def counting(self: trio.SocketStream, data: Any) -> None:
        sends.append(bytes(data))
        await original(self, data)

    async with serving(tmp_path, echo) as served:
        stream = await served.connect()
        trio.SocketStream.send_all = counting  # type: ignore[method-assign]
        try:
            await stream.send_all(post(b"/x", b"abc"))
            sends.clear()
            await Reader(stream).response()
        finally:
            trio.SocketStream.send_all = original  # type: ignore[method-assign]
        assert len(sends) == 1 and sends[0].endswith(b"POST /x abc")
        await stream.aclose()


async def test_the_scope(tmp_path: Path) -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await echo(scope, receive, send)

    async with serving(tmp_path, app) as served:
        stream = await served.connect()
        await stream.send_all(b"GET /a%20b/c?x=1&y HTTP/1.1\r\nHost: h\r\nX-Mixed-Case: V\r\n\r\n")
        await Reader(stream).response()
        await stream.aclose()
    scope = scopes[0]
    assert scope["path"] == "/a b/c" and scope["raw_path"] == b"/a%20b/c"
    assert scope["query_string"] == b"x=1&y"
    assert scope["headers"] == [(b"host", b"h"), (b"x-mixed-case", b"V")]
    assert scope["http_version"] == "1.1" and scope["method"] == "GET"
    assert scope["client"] is None and scope["server"] is None  # a unix socket


async def test_http_1_0_is_answered_and_closed(tmp_path: Path) -> None:
    async with serving(tmp_path, echo) as served:
        stream = await served.connect()
        await stream.send_all(b"GET /old HTTP/1.0\r\n\r\n")
        reader = Reader(stream)
        status, headers, body = await reader.response()
        assert (status, body, headers[b"connection"]) == (200, b"GET /old ", b"close")
        assert await reader.closed()


async def test_connection_close_is_honoured(tmp_path: Path) -> None:
    async with serving(tmp_path, echo) as served:
        stream = await served.connect()
        await stream.send_all(post(b"/c", b"", b"Connection: close\r\n") + post(b"/never", b""))
        reader = Reader(stream)
        assert (await reader.response())[1][b"connection"] == b"close"
        assert await reader.closed()


async def test_head_answers_carry_no_body(tmp_path: Path) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        headers = [(b"content-length", b"5")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"hello"})

    async with serving(tmp_path, app) as served:
        stream = await served.connect()
        await stream.send_all(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n" + post(b"/", b""))
        reader = Reader(stream)
        while b"\r\n\r\n" not in reader.buf:
            await reader._more()
        first, _, rest = reader.buf.partition(b"\r\n\r\n")
        assert b"content-length: 5" in first
        reader.buf = rest
        assert (await reader.response())[2] == b"hello"  # the next answer, not HEAD's body
        await stream.aclose()


async def test_expect_100_continue_is_answered_when_the_body_is_asked_for(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, echo) as served:
        stream = await served.connect()
        await stream.send_all(
            b"PUT /e HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
        )
        reader = Reader(stream)
        while b"\r\n\r\n" not in reader.buf:
            await reader._more()
        assert reader.buf == b"HTTP/1.1 100 Continue\r\n\r\n"
        reader.buf = b""
        await stream.send_all(b"abc")
        assert (await reader.response())[2] == b"PUT /e abc"
        await stream.aclose()


async def test_a_refusal_without_reading_the_body_skips_the_100_and_closes(
    tmp_path: Path,
) -> None:
    async with serving(tmp_path, ignores_body) as served:
        stream = await served.connect()
        await stream.send_all(
            b"PUT / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"
        )
        reader = Reader(stream)
        status, headers, _ = await reader.response()
        assert (status, headers[b"connection"]) == (204, b"close")
        assert await reader.closed()


async def test_an_unread_body_arriving_late_keeps_the_connection(tmp_path: Path) -> None:
    async with serving(tmp_path, ignores_body) as served:
        stream = await served.connect()
        await stream.send_all(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\n")
        reader = Reader(stream)
        status, headers, _ = await reader.response()  # answered before the body came
        assert status == 204 and b"connection" not in headers
        await trio.sleep(0.05)
        await stream.send_all(b"body" + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert (await reader.response())[0] == 204
        chunked = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
        await stream.send_all(chunked + b"2\r\nab\r\n0\r\nT: 1\r\n\r\n" + post(b"/", b"x"))
        assert (await reader.response())[0] == 204
        assert (await reader.response())[0] == 204
        await stream.aclose()


async def test_an_unread_body_over_the_limit_closes(tmp_path: Path) -> None:
    settings = HttpSettings(drain_limit_bytes=10)
    async with serving(tmp_path, ignores_body, settings=settings) as served:
        stream = await served.connect()
        await stream.send_all(post(b"/", b"x" * 11))
        reader = Reader(stream)
        assert (await reader.response())[1][b"connection"] == b"close"
        assert await reader.closed()


async def test_a_streamed_answer_is_chunked(tmp_path: Path) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for piece in (b"ab", b"", b"cd"):
            await send({"type": "http.response.body", "body": piece, "more_body": True})
        await send({"type": "http.response.body", "body": b"e"})

    async with serving(tmp_path, app) as served:
        stream = await served.connect()
        await stream.send_all(post(b"/", b"") * 2)
        reader = Reader(stream)
        for _ in range(2):
            _status, headers, body = await reader.response()
            assert headers[b"transfer-encoding"] == b"chunked" and body == b"abcde"
        await stream.aclose()


async def test_a_streamed_answer_with_a_length_is_not_chunked(tmp_path: Path) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        headers = [(b"Content-Length", b"4")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": b"cd"})

    async with serving(tmp_path, app) as served:
        stream = await served.connect()
        await stream.send_all(post(b"/", b""))
        _status, headers, body = await Reader(stream).response()
        assert b"transfer-encoding" not in headers and body == b"abcd"
        await stream.aclose()


async def test_an_app_that_raises_gets_a_500_and_the_connection_closes(tmp_path: Path) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        raise RuntimeError("boom")

    async with serving(tmp_path, app) as served:
        stream = await served.connect()
        await stream.send_all(post(b"/", b"") * 2)
        reader = Reader(stream)
        assert (await reader.response())[0] == 500
        assert await reader.closed()
        # The server goes on serving other connections.
        other = await served.connect()
        await other.send_all(post(b"/", b""))
        assert (await Reader(other).response())[0] == 500


async def test_a_malformed_request_is_400_and_closes(tmp_path: Path) -> None:
    async with serving(tmp_path, echo) as served:
        stream = await served.connect()
        await stream.send_all(
            b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        )
        reader = Reader(stream)
        status, headers, _ = await reader.response()
        assert (status, headers[b"connection"]) == (400, b"close")
        assert await reader.closed()


async def test_a_huge_head_is_431(tmp_path: Path) -> None:
    settings = HttpSettings(max_head_bytes=1024)
    async with serving(tmp_path, echo, settings=settings) as served:
        stream = await served.connect()
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\nX: " + b"a" * 2000)
        assert (await Reader(stream).response())[0] == 431


async def test_an_idle_connection_ends_at_the_keep_alive_timeout(tmp_path: Path) -> None:
    async with serving(tmp_path, echo, keep_alive_s=0.2) as served:
        stream = await served.connect()
        await stream.send_all(post(b"/", b""))
        reader = Reader(stream)
        await reader.response()
        started = trio.current_time()
        assert await reader.closed()
        assert 0.1 < trio.current_time() - started < 2


async def test_a_slow_head_ends_at_the_deadline(tmp_path: Path) -> None:
    async with serving(tmp_path, echo, keep_alive_s=0.3) as served:
        stream = await served.connect()
        reader = Reader(stream)
        for piece in (b"GET / HT", b"TP/1.1\r\n", b"Host: x\r\n"):
            await stream.send_all(piece)
            await trio.sleep(0.05)
        assert await reader.closed()


async def test_a_full_listener_evicts_an_idle_connection(tmp_path: Path) -> None:
    limits = ConnectionLimits(max_connections=1, evict_after_s=0.05)
    async with serving(tmp_path, echo, limits=limits) as served:
        idle = await served.connect()
        await idle.send_all(post(b"/", b""))
        await Reader(idle).response()
        await trio.sleep(0.1)
        fresh = await served.connect()
        await fresh.send_all(post(b"/new", b""))
        assert (await Reader(fresh).response())[2] == b"POST /new "
        assert await Reader(idle).closed()


async def test_shutdown_closes_idle_connections_and_lets_busy_ones_finish(
    tmp_path: Path,
) -> None:
    release = trio.Event()
    entered = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["path"] == "/slow":
            entered.set()
            await release.wait()
        await echo(scope, receive, send)

    async with serving(tmp_path, app, settings=HttpSettings(graceful_timeout_s=5)) as served:
        idle = await served.connect()
        await idle.send_all(post(b"/", b""))
        await Reader(idle).response()
        busy = await served.connect()
        await busy.send_all(post(b"/slow", b""))
        await entered.wait()
        served.stop.set()
        assert await Reader(idle).closed()
        release.set()
        reader = Reader(busy)
        status, headers, _ = await reader.response()
        assert (status, headers[b"connection"]) == (200, b"close")
        assert await reader.closed()


async def test_shutdown_cancels_requests_that_outlast_the_grace(tmp_path: Path) -> None:
    entered = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        entered.set()
        await trio.sleep_forever()

    async with serving(tmp_path, app, settings=HttpSettings(graceful_timeout_s=0.2)) as served:
        stream = await served.connect()
        await stream.send_all(post(b"/", b""))
        await entered.wait()
        started = trio.current_time()
        served.stop.set()
        assert await Reader(stream).closed()
        assert trio.current_time() - started < 2


async def test_tcp_scopes_name_client_and_server() -> None:
    scopes: list[Scope] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        scopes.append(scope)
        await echo(scope, receive, send)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    port = sock.getsockname()[1]
    stop = trio.Event()
    binding = Binding(app, sock, LIMITS, name="tcp", keep_alive_timeout_s=5)
    async with trio.open_nursery() as nursery:
        await nursery.start(
            lambda task_status: serve_bindings(
                [binding], HttpSettings(), shutdown=stop.wait, task_status=task_status
            )
        )
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(post(b"/", b""))
        await Reader(stream).response()
        own = stream.socket.getsockname()
        await stream.aclose()
        stop.set()
    assert scopes[0]["server"] == ("127.0.0.1", port)
    assert scopes[0]["client"] == ("127.0.0.1", own[1])


async def test_http_1_0_keep_alive_is_kept(tmp_path: Path) -> None:
    async with serving(tmp_path, echo) as served:
        stream = await served.connect()
        request = b"GET /k HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
        await stream.send_all(request * 2)
        reader = Reader(stream)
        for _ in range(2):
            status, headers, body = await reader.response()
            assert (status, headers[b"connection"], body) == (200, b"keep-alive", b"GET /k ")


async def test_a_chunked_request_body_reaches_the_app_whole(tmp_path: Path) -> None:
    async with serving(tmp_path, echo) as served:
        stream = await served.connect()
        await stream.send_all(b"PUT /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b"3\r\nabc\r\n", b"2\r\nde\r\n", b"0\r\nX-T: 1\r\n\r\n"):
            await trio.sleep(0.01)
            await stream.send_all(piece)
        assert (await Reader(stream).response())[2] == b"PUT /c abcde"


async def test_a_streamed_answer_to_http_1_0_ends_with_the_connection(tmp_path: Path) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ab", "more_body": True})
        await send({"type": "http.response.body", "body": b"cd"})

    async with serving(tmp_path, app) as served:
        stream = await served.connect()
        await stream.send_all(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
        reader = Reader(stream)
        assert await reader.closed()
        head, _, body = reader.buf.partition(b"\r\n\r\n")
        assert b"connection: close" in head and b"transfer-encoding" not in head
        assert body == b"abcd"
