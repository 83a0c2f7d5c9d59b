"""EventBridge Scheduler's rest-json protocol as a bare ASGI app (``/schedules/{Name}``, …)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from engine.scheduler.service import ScheduleService

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class SchedulerApp:
    def __init__(self, service: ScheduleService, *, region: str) -> None:
        self.service = service
        self.region = region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        payload = json.dumps({"Message": "EventBridge Scheduler is not ready yet."}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"x-amzn-requestid", str(uuid.uuid4()).encode()),
            (b"x-amzn-errortype", b"InternalServerException"),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": 500, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
