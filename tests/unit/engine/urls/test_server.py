"""The URL listener's body bounds: too large (413) and too slow (408), before any invoke."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, cast

import trio
from starlette.types import Message

from engine.invoke.invoker import Invoker
from engine.model.limits import MAX_SYNC_PAYLOAD_BYTES
from engine.urls.config import UrlConfig
from engine.urls.server import BODY_TIMEOUT_S, UrlServer
from engine.urls.service import UrlService

URL_ID = "a" * 32
HOST = f"{URL_ID}.lambda-url.us-east-1.localhost:9000"


@dataclass
class FakeUrls:
    by_id: dict[str, UrlConfig] = field(default_factory=dict)
    orphans: set[str] = field(default_factory=set)


def _server() -> UrlServer:
    config = UrlConfig(
        function_name="fn",
        qualifier=None,
        url_id=URL_ID,
        auth_type="NONE",
        cors=None,
        invoke_mode="BUFFERED",
        creation_time="2026-01-01T00:00:00.000000Z",
        last_modified_time="2026-01-01T00:00:00.000000Z",
    )
    urls = cast(UrlService, FakeUrls(by_id={URL_ID: config}))
    return UrlServer(urls, cast(Invoker, None), credentials=None, region="us-east-1")


async def _call(headers: list[tuple[bytes, bytes]], receive: Any) -> tuple[int, bytes]:
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "raw_path": b"/",
        "query_string": b"",
        "headers": [(b"host", HOST.encode()), *headers],
    }
    sent: list[Message] = []

    async def send(message: Message) -> None:
        sent.append(message)

    await _server()(scope, receive, send)
    return sent[0]["status"], sent[1]["body"]


async def test_a_declared_body_over_the_limit_is_413() -> None:
    async def receive() -> Message:
        raise AssertionError("the body is not read")

    length = str(MAX_SYNC_PAYLOAD_BYTES + 1).encode()
    status, body = await _call([(b"content-length", length)], receive)
    assert (status, body) == (413, b'{"Message": "Request Entity Too Large"}')


async def test_a_chunked_body_over_the_limit_is_413() -> None:
    async def receive() -> Message:
        return {"type": "http.request", "body": b" " * (1 << 20), "more_body": True}

    status, _ = await _call([(b"transfer-encoding", b"chunked")], receive)
    assert status == 413


async def test_a_body_that_never_ends_is_408(autojump_clock: trio.testing.MockClock) -> None:
    async def receive() -> Message:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    started = trio.current_time()
    status, body = await _call([(b"content-length", b"10")], receive)
    assert (status, body) == (408, b'{"Message": "Request Timeout"}')
    assert trio.current_time() - started >= BODY_TIMEOUT_S
