"""`DrainUnreadBody`: the rest of an unread body is read before the answer ends, up to a limit."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

import trio

from engine.host.drain import DRAIN_TIMEOUT_S, DrainUnreadBody


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
    await app(_scope(4), _receiver([b"ab", b"cd", b""], log), send)
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

    await DrainUnreadBody(reads_body)(_scope(1), _receiver([b"x", b""], log), send)
    assert log == ["receive 1", "receive 0", "http.response.start", "http.response.body"]


async def test_a_body_declared_bigger_than_the_limit_is_not_waited_for() -> None:
    log: list[str] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        log.append(message["type"])

    app = DrainUnreadBody(_ignores_body, limit=5)
    await app(_scope(20), _receiver([b"abcd"] * 5 + [b""], log), send)
    assert log == ["http.response.start", "http.response.body"]  # answered at once


async def test_a_chunked_body_of_unknown_size_is_not_waited_for() -> None:
    log: list[str] = []

    async def send(message: MutableMapping[str, Any]) -> None:
        log.append(message["type"])

    await DrainUnreadBody(_ignores_body)(_scope(None), _receiver([b"ab", b""], log), send)
    assert log == ["http.response.start", "http.response.body"]


async def test_a_body_that_never_comes_holds_the_answer_a_second_at_most(
    autojump_clock: Any,
) -> None:
    log: list[str] = []

    async def never() -> MutableMapping[str, Any]:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def send(message: MutableMapping[str, Any]) -> None:
        log.append(f"{message['type']} at {trio.current_time():.1f}")

    await DrainUnreadBody(_ignores_body)(_scope(10), never, send)
    assert log == ["http.response.start at 0.0", f"http.response.body at {DRAIN_TIMEOUT_S:.1f}"]


def _scope(length: int | None) -> dict[str, Any]:
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return {"type": "http", "headers": headers}
