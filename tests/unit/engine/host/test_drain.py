"""`DrainUnreadBody`: the rest of an unread body is read before the answer ends, up to a limit."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

from engine.host.drain import DrainUnreadBody


def _receiver(chunks: list[bytes], log: list[str]) -> Any:
    messages: list[dict[str, Any]] = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive() -> MutableMapping[str, Any]:
        message: dict[str, Any] = messages.pop(0)
        log.append(f"receive {len(message['body'])}")
        return message

    return receive


async def _ignores_body(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def test_an_unread_body_is_read_before_the_answer_ends() -> None:
    log: list[str] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        log.append(message["type"])

    app = DrainUnreadBody(_ignores_body)
    await app({"type": "http"}, _receiver([b"ab", b"cd", b""], log), send)
    assert log == [
        "http.response.start",
        "receive 2",
        "receive 2",
        "receive 0",
        "http.response.body",
    ]


async def test_a_body_the_app_read_is_not_read_again() -> None:
    log: list[str] = []

    async def reads_body(scope: Any, receive: Any, send: Any) -> None:
        while (await receive()).get("more_body"):
            pass
        await _ignores_body(scope, receive, send)

    async def send(message: MutableMapping[str, Any]) -> None:
        log.append(message["type"])

    await DrainUnreadBody(reads_body)({"type": "http"}, _receiver([b"x", b""], log), send)
    assert log == ["receive 1", "receive 0", "http.response.start", "http.response.body"]


async def test_a_big_unread_body_is_left_past_the_limit() -> None:
    log: list[str] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        log.append(message["type"])

    app = DrainUnreadBody(_ignores_body, limit=5)
    await app({"type": "http"}, _receiver([b"abcd"] * 5 + [b""], log), send)
    assert log.count("receive 4") == 2  # 8 bytes read past a limit of 5, then no more
    assert log[-1] == "http.response.body"
