"""EventBridge Scheduler's rest-json protocol as a bare ASGI app (``/schedules/{Name}``, …).

The operation comes from the method and the raw path, matched against the model's HTTP
bindings (`engine.shapes.rest_input`); its members are read from where the model puts them
(URI labels, query, JSON body), checked against the operation's input shape in AWS's words
(`engine.shapes.validate`), and handed to the operation's handler. Every answer carries
``x-amzn-RequestId``; an error answers ``x-amzn-ErrorType: <type>`` and ``{"Message": …}``,
as the model's error shapes say. An unexpected exception is logged once with the request id
and answered as InternalServerException.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any, Final
from urllib.parse import parse_qs

from engine.errors import ApiError
from engine.scheduler.errors import (
    InternalServerException,
    RequestTooLargeException,
    SerializationException,
    UnknownOperationException,
)
from engine.scheduler.operations import HANDLERS
from engine.scheduler.service import ScheduleService
from engine.shapes.json_input import problems
from engine.shapes.json_protocol import Receive, Scope, Send, read_json_object
from engine.shapes.model import ServiceModel, load_service
from engine.shapes.rest_input import RestRoutes, input_layout, read_input
from engine.shapes.validate import check

logger = logging.getLogger(__name__)

# A schedule with a 1 MiB Input (the asynchronous invoke's limit), JSON-escaped at worst.
MAX_REQUEST_BYTES: Final = 6 * 1024 * 1024 + 65_536
_CONTENT_TYPE: Final = (b"content-type", b"application/json")


class SchedulerApp:
    def __init__(self, service: ScheduleService, *, region: str) -> None:
        self.service = service
        self.region = region
        self.model: ServiceModel = load_service("scheduler")
        self.routes = RestRoutes(self.model)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        headers = [_CONTENT_TYPE, (b"x-amzn-requestid", request_id.encode())]
        try:
            status, result = await self._answer(scope, receive)
            payload = json.dumps(result).encode()
        except ApiError as exc:
            status, payload = exc.status, _error_body(exc)
            headers.append((b"x-amzn-errortype", exc.error_type.encode()))
        except Exception:  # the request's boundary: log once, answer AWS's 500
            logger.exception("Scheduler request %s (%s) failed", request_id, scope.get("path"))
            internal = InternalServerException("Unexpected error during processing of request.")
            status, payload = internal.status, _error_body(internal)
            headers.append((b"x-amzn-errortype", internal.error_type.encode()))
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope: Scope, receive: Receive) -> tuple[int, dict[str, Any]]:
        raw = scope.get("raw_path")
        path = raw.decode("latin-1").partition("?")[0] if raw else scope["path"]
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        found = self.routes.match(scope["method"], path, query)
        handler = HANDLERS.get(found[0].name) if found is not None else None
        if found is None or handler is None:
            raise UnknownOperationException(f"Unknown operation {scope['method']} {path}")
        operation, labels = found
        layout = input_layout(self.model, operation)
        params: dict[str, Any] = {}
        if layout is not None:
            body = (
                await read_json_object(
                    receive,
                    max_bytes=MAX_REQUEST_BYTES,
                    too_large=RequestTooLargeException,
                    malformed=SerializationException,
                )
                if layout.body
                else {}
            )
            mistyped = [p for p in problems(self.model, layout.shape, body) if p.kind == "type"]
            if mistyped:
                raise SerializationException(
                    f"Value of {mistyped[0].path} cannot be read as a JSON {mistyped[0].expected}."
                )
            headers = {
                k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]
            }
            params = read_input(layout, labels=labels, query=query, headers=headers, body=body)
            check(self.model, layout.shape, params)
        return operation.success_status, await handler(self.service, params)


def _error_body(exc: ApiError) -> bytes:
    return json.dumps({"Message": exc.message}).encode()
