"""The Runtime API server on a loopback listener: long-poll, keep-alive, limits, bad HTTP."""

from __future__ import annotations

import json
import socket
from collections.abc import AsyncIterator

import pytest
import trio

from engine.runtime.http_api import MAX_PAYLOAD_BYTES
from engine.runtime.http_server import MAX_CONNECTIONS, HttpChannel
from sandbox.protocol import FunctionError, Invoke, Ready, Response

PREFIX = "/2018-06-01/runtime"


def invoke(rid: str) -> Invoke:
    return Invoke(
        request_id=rid,
        deadline_ms=1,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        payload=b'{"n": 1}',
    )


@pytest.fixture
async def channel(nursery: trio.Nursery) -> AsyncIterator[tuple[HttpChannel, int]]:
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    await sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    port = sock.getsockname()[1]
    ch = HttpChannel(sock)
    nursery.start_soon(ch.run)
    yield ch, port
    ch.close()


async def request(
    stream: trio.SocketStream, method: str, path: str, body: bytes = b"", extra: str = ""
) -> tuple[int, dict[str, str], bytes]:
    head = f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n{extra}\r\n"
    await stream.send_all(head.encode() + body)
    return await read_response(stream)


async def read_response(stream: trio.SocketStream) -> tuple[int, dict[str, str], bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = await stream.receive_some(65536)
        assert chunk, "connection closed"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines[1:])}
    size = int(headers.get("content-length", "0"))
    while len(rest) < size:
        rest += await stream.receive_some(65536)
    return status, headers, rest[:size]


async def delivered(ch: HttpChannel, port: int) -> trio.SocketStream:
    """A connection whose GET next has received invocation r-1 (to be answered on it)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with trio.open_nursery() as n:
        n.start_soon(request, stream, "GET", f"{PREFIX}/invocation/next")
        await ch.receive()
        await ch.send_invoke(invoke("r-1"))
    return stream


async def test_long_poll_delivers_and_keep_alive_answers(channel: tuple[HttpChannel, int]) -> None:
    ch, port = channel
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with trio.open_nursery() as n:
        got: list[tuple[int, dict[str, str], bytes]] = []

        async def poll() -> None:
            got.append(await request(stream, "GET", f"{PREFIX}/invocation/next"))

        n.start_soon(poll)
        assert await ch.receive() == Ready()
        await trio.sleep(0.05)
        assert not got  # parked until there is an invocation
        await ch.send_invoke(invoke("r-1"))
    status, headers, body = got[0]
    assert status == 200
    assert headers["lambda-runtime-aws-request-id"] == "r-1"
    assert body == b'{"n": 1}'
    # The same connection (keep-alive) carries the answer.
    status, _, body = await request(stream, "POST", f"{PREFIX}/invocation/r-1/response", b"42")
    assert status == 202
    assert json.loads(body) == {"status": "OK"}
    assert await ch.receive() == Response(request_id="r-1", payload=b"42")
    await stream.aclose()


async def test_expect_100_continue_is_answered(channel: tuple[HttpChannel, int]) -> None:
    ch, port = channel
    stream = await delivered(ch, port)
    body = b'"x"' * 1000
    head = (
        f"POST {PREFIX}/invocation/r-1/response HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n"
    )
    await stream.send_all(head.encode())
    interim = await stream.receive_some(1024)
    assert interim.startswith(b"HTTP/1.1 100 ")
    await stream.send_all(body)
    status, _, _ = await read_response(stream)
    assert status == 202
    await stream.aclose()


async def test_oversized_body_is_cut_off_with_413(channel: tuple[HttpChannel, int]) -> None:
    ch, port = channel
    stream = await delivered(ch, port)
    size = MAX_PAYLOAD_BYTES + 1
    head = (
        f"POST {PREFIX}/invocation/r-1/response HTTP/1.1\r\nHost: x\r\n"
        f"Content-Length: {size}\r\n\r\n"
    )
    await stream.send_all(head.encode())
    chunk = b"x" * 65536
    sent = 0
    with trio.move_on_after(10):
        try:
            while sent < size:
                await stream.send_all(chunk[: size - sent])
                sent += min(len(chunk), size - sent)
        except trio.BrokenResourceError:
            pass  # the server stopped reading and hung up: fine
    status, _, body = await read_response(stream)
    assert status == 413
    assert json.loads(body)["errorType"] == "RequestEntityTooLarge"
    event = await ch.receive()
    assert isinstance(event, FunctionError)
    assert event.error.error_type == "Function.ResponseSizeTooLarge"
    await stream.aclose()


async def test_malformed_http_gets_400_and_a_hang_up(channel: tuple[HttpChannel, int]) -> None:
    _, port = channel
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    await stream.send_all(b"NOT HTTP AT ALL\r\n\r\n")
    status, _, _ = await read_response(stream)
    assert status == 400
    assert await stream.receive_some(10) == b""
    await stream.aclose()


async def test_connections_beyond_the_cap_wait_in_the_backlog(
    channel: tuple[HttpChannel, int],
) -> None:
    _, port = channel
    idle = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(MAX_CONNECTIONS)]
    extra = await trio.open_tcp_stream("127.0.0.1", port)  # the kernel completes the handshake
    with trio.move_on_after(0.3) as waited:
        await request(extra, "GET", f"{PREFIX}/nowhere")
    assert waited.cancelled_caught  # not served while every slot is taken
    await idle[0].aclose()
    with trio.fail_after(5):
        status, _, _ = await read_response(extra)
    assert status == 404
    for s in (*idle[1:], extra):
        await s.aclose()
