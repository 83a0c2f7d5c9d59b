"""Calling `KinesisApp` as the listeners do (an ASGI request), for the unit tests."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from engine.kinesis.api import KinesisApp


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
        self.status = status
        self.headers = headers
        self.body = body


async def call(
    app: KinesisApp,
    operation: str,
    body: dict[str, Any] | None = None,
    *,
    raw: bytes | None = None,
    target: str | None = None,
) -> Answer:
    payload = raw if raw is not None else json.dumps(body or {}).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [
            (b"host", b"kinesis.test:1234"),
            (b"x-amz-target", (target or f"Kinesis_20131202.{operation}").encode()),
            (b"content-type", b"application/x-amz-json-1.1"),
        ],
    }
    sent: list[MutableMapping[str, Any]] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            return {"type": "http.disconnect"}
        done = True
        return {"type": "http.request", "body": payload, "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, body_message = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    return Answer(start["status"], headers, json.loads(body_message["body"]))


async def ok(app: KinesisApp, operation: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = await call(app, operation, body)
    assert answer.status == 200, answer.body
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
    assert answer.headers["x-amzn-requestid"]
    return answer.body


async def fails(
    app: KinesisApp, operation: str, body: dict[str, Any] | None = None, *, status: int = 400
) -> dict[str, Any]:
    """The error body ({"__type", "message"}) of a request that must fail with `status`."""
    answer = await call(app, operation, body)
    assert answer.status == status, answer.body
    assert answer.headers["content-type"] == "application/x-amz-json-1.1"
    assert set(answer.body) == {"__type", "message"}
    return answer.body
