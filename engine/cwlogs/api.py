"""CloudWatch Logs' JSON protocol as a bare ASGI app: ``POST /`` with
``X-Amz-Target: Logs_20140328.<Op>``, ``application/x-amz-json-1.1`` both ways.

As KinesisApp: the headers are scanned once, the body read within a bound and parsed once,
checked against the operation's input shape from botocore's model, and handed to the
operation's handler. Every answer carries ``x-amzn-RequestId``; an error answers CloudWatch
Logs' JSON shape (``{"__type": "ResourceNotFoundException", "message": …}``, 400). An
operation of the model this engine does not build answers InvalidParameterException naming
it. An unexpected exception is logged once with the request id and answered as
ServiceUnavailableException.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Final

import trio

from engine.cwlogs.context import Body, Context, Handler
from engine.cwlogs.errors import (
    RequestTooLarge,
    SerializationException,
    ServiceUnavailableException,
    UnknownOperationException,
    not_implemented,
)
from engine.cwlogs.event_operations import EVENT_HANDLERS
from engine.cwlogs.group_operations import GROUP_HANDLERS
from engine.cwlogs.requests import check_input
from engine.cwlogs.stream_operations import STREAM_HANDLERS
from engine.errors import ApiError
from engine.runtime.log_store import LogStore
from engine.shapes.json_protocol import Receive, Scope, Send, read_json_object
from engine.shapes.model import ServiceModel, load_service

logger = logging.getLogger(__name__)

TARGET_PREFIX: Final = b"Logs_20140328"
# A PutLogEvents batch is at most 1 MiB of events; JSON escaping can grow it several times.
MAX_REQUEST_BYTES: Final = 8 * 1024 * 1024
READER_THREADS: Final = 2  # log files read at once, in worker threads
_CONTENT_TYPE: Final = (b"content-type", b"application/x-amz-json-1.1")
HANDLERS: Final[dict[str, Handler]] = {**GROUP_HANDLERS, **STREAM_HANDLERS, **EVENT_HANDLERS}
_PREFIX: Final = TARGET_PREFIX.decode() + "."


class CwLogsApp:
    def __init__(self, store: LogStore, *, region: str) -> None:
        self.context = Context(store, region, trio.CapacityLimiter(READER_THREADS))
        self.model: ServiceModel = load_service("logs")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        target = ""
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                target = value.decode("latin-1")
                break
        status = 200
        try:
            payload = json.dumps(await self._answer(scope, receive, target)).encode()
        except ApiError as exc:
            status, payload = exc.status, _error_body(exc)
        except Exception:  # the request's boundary: log once, answer AWS's 500
            logger.exception("CloudWatch Logs request %s (%s) failed", request_id, target)
            internal = ServiceUnavailableException("The service cannot complete the request.")
            status, payload = internal.status, _error_body(internal)
        headers = [
            _CONTENT_TYPE,
            (b"x-amzn-requestid", request_id.encode()),
            (b"content-length", str(len(payload)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope: Scope, receive: Receive, target: str) -> Body:
        operation = (
            self.model.operations.get(target[len(_PREFIX) :])
            if target.startswith(_PREFIX)
            else None
        )
        if operation is None or scope["method"] != "POST":
            raise UnknownOperationException(f"Unknown operation {target or scope['method']}")
        handler = HANDLERS.get(operation.name)
        if handler is None:
            raise not_implemented(operation.name)
        body = await read_json_object(
            receive,
            max_bytes=MAX_REQUEST_BYTES,
            too_large=RequestTooLarge,
            malformed=SerializationException,
        )
        if operation.input is not None:
            check_input(self.model, operation.input, body)
        return await handler(self.context, body)


def _error_body(exc: ApiError) -> bytes:
    return json.dumps({"__type": exc.error_type, "message": exc.message}).encode()
