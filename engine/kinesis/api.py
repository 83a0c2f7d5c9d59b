"""Kinesis's JSON protocol as a bare ASGI app: ``POST /`` with
``X-Amz-Target: Kinesis_20131202.<Op>``. (Entry point with its final signature.)"""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from engine.kinesis.errors import UnknownOperationException
from engine.kinesis.service import StreamService
from engine.shapes.model import ServiceModel, load_service

_CONTENT_TYPE: Final = (b"content-type", b"application/x-amz-json-1.1")

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class KinesisApp:
    def __init__(self, service: StreamService, *, region: str) -> None:
        self.service = service
        self.region = region
        self.model: ServiceModel = load_service("kinesis")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        exc = UnknownOperationException("lambdalet's Kinesis service is not built yet.")
        payload = json.dumps({"__type": exc.error_type, "message": exc.message}).encode()
        headers = [
            _CONTENT_TYPE,
            (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": exc.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
