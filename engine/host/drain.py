"""Keep a connection alive when the app answers without reading the request body.

hypercorn reuses an HTTP/1.1 connection only when the client has sent its whole request by the
time the response ends; an answer that ignores the body (DryRun, a 404, a refusal) can leave
before the body has arrived, and the connection is then closed under the client, which sees a
broken pipe while still sending. `DrainUnreadBody` reads and discards what is left of a body
before the last piece of the response goes out, up to `limit` bytes (a bigger unread body is
left, and the connection closes as before: nobody waits for megabytes nobody will use).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
App = Callable[[MutableMapping[str, Any], Receive, Send], Awaitable[None]]

DRAIN_LIMIT: Final = 64 * 1024


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
                left = self.limit
                while not received_all and left >= 0:
                    left -= len((await tracked_receive()).get("body", b""))
            await send(message)

        await self.app(scope, tracked_receive, draining_send)
