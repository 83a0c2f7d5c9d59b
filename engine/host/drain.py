"""Keep a connection alive when the app answers without reading the request body.

hypercorn reuses an HTTP/1.1 connection only when the client has sent its whole request by the
time the response ends; an answer that ignores the body (DryRun, a 404, a refusal) can leave
before the body has arrived, and the connection is then closed under the client, which sees a
broken pipe while still sending. `DrainUnreadBody` reads and discards what is left of a body
before the last piece of the response goes out, when the request declared a `Content-Length`
of at most `limit` bytes, and for at most `DRAIN_TIMEOUT_S`. Anything else (a bigger body, a
chunked one of unknown size, a client waiting for an early answer before it sends) is left,
and the connection closes as before: nobody waits for megabytes nobody will use, nor for a
body that may never come.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

import trio

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

DRAIN_LIMIT: Final = 64 * 1024
DRAIN_TIMEOUT_S: Final = 1.0


def declared_length(scope: MutableMapping[str, Any]) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class DrainUnreadBody:
    def __init__(self, app: App, limit: int = DRAIN_LIMIT) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: MutableMapping[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        received_all = False

        async def tracked_receive() -> Message:
            nonlocal received_all
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                received_all = True
            return message

        async def draining_send(message: Message) -> None:
            if (
                not received_all
                and message["type"] == "http.response.body"
                and not message.get("more_body", False)
            ):
                length = declared_length(scope)
                if length is not None and length <= self.limit:
                    with trio.move_on_after(DRAIN_TIMEOUT_S):
                        while not received_all:
                            await tracked_receive()
            await send(message)

        await self.app(scope, tracked_receive, draining_send)
