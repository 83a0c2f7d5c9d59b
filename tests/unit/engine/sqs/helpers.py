"""Calling `SqsApp` as the listeners do (an ASGI request), for the unit tests."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from typing import Any

from engine.sqs.api import SqsApp


class Answer:
    def __init__(self, status: int, headers: dict[str, str], body: dict[str, Any]) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def code(self) -> str:
        """The error code botocore reports (the legacy code of x-amzn-query-error)."""
        return self.headers["x-amzn-query-error"].split(";")[0]


async def call(
    app: SqsApp, operation: str, body: dict[str, Any] | None = None, *, raw: bytes | None = None
) -> Answer:
    payload = raw if raw is not None else json.dumps(body or {}).encode()
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/",
        "headers": [
            (b"host", b"sqs.test:1234"),
            (b"x-amz-target", f"AmazonSQS.{operation}".encode()),
            (b"content-type", b"application/x-amz-json-1.0"),
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
