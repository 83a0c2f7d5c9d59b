"""SQS's JSON protocol as a bare ASGI app: ``POST /`` with ``X-Amz-Target: AmazonSQS.<Op>``.

The hot path is lean on purpose (no framework, no middleware): the headers are scanned once,
the body read within a bound and parsed once, checked against the operation's input shape
from botocore's model, and handed to the operation's handler. Every answer carries
``x-amzn-RequestId``; an error answers SQS's JSON shape with the ``x-amzn-query-error``
header (`engine.sqs.errors`). An unexpected exception is logged once with the request id and
answered as InternalError.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Final

from engine.shapes.json_protocol import Receive, Scope, Send, read_json_object
from engine.shapes.model import ServiceModel, load_service
from engine.sqs.context import Body, Context, Handler
from engine.sqs.errors import (
    InternalError,
    RequestTooLarge,
    SerializationException,
    SqsError,
    UnknownOperation,
    UnsupportedOperation,
)
from engine.sqs.message_operations import MESSAGE_HANDLERS
from engine.sqs.queue_operations import QUEUE_HANDLERS
from engine.sqs.requests import check_input
from engine.sqs.service import QueueService

logger = logging.getLogger(__name__)

# A 1 MiB message and its attributes, JSON-escaped at worst (\uXXXX for every byte: 6x).
MAX_REQUEST_BYTES: Final = 6 * 1024 * 1024 + 65_536
_CONTENT_TYPE: Final = (b"content-type", b"application/x-amz-json-1.0")
HANDLERS: Final[dict[str, Handler]] = {**QUEUE_HANDLERS, **MESSAGE_HANDLERS}
_PREFIX: Final = "AmazonSQS."


class SqsApp:
    def __init__(self, service: QueueService, *, region: str) -> None:
        self.service = service
        self.region = region
        self.model: ServiceModel = load_service("sqs")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request_id = str(uuid.uuid4())
        target = host = ""
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                target = value.decode("latin-1")
            elif name == b"host":
                host = value.decode("latin-1")
        status = 200
        headers = [_CONTENT_TYPE, (b"x-amzn-requestid", request_id.encode())]
        try:
            result = await self._answer(scope, receive, target, host)
            payload = json.dumps(result).encode()
        except SqsError as exc:
            status, payload = exc.status, _error_body(exc)
            headers.append((b"x-amzn-query-error", exc.query_header().encode()))
        except Exception:  # the request's boundary: log once, answer AWS's 500
            logger.exception("SQS request %s (%s) failed", request_id, target)
            internal = InternalError("We encountered an internal error. Please try again.")
            status, payload = internal.status, _error_body(internal)
            headers.append((b"x-amzn-query-error", internal.query_header().encode()))
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope: Scope, receive: Receive, target: str, host: str) -> Body:
        operation = (
            self.model.operations.get(target[len(_PREFIX) :])
            if target.startswith(_PREFIX)
            else None
        )
        if operation is None or scope["method"] != "POST":
            raise UnknownOperation(f"Unknown operation {target or scope['method']}")
        handler = HANDLERS.get(operation.name)
        if handler is None:
            raise UnsupportedOperation(
                f"lambdalet does not implement the SQS operation {operation.name} yet."
            )
        body = await read_json_object(
            receive,
            max_bytes=MAX_REQUEST_BYTES,
            too_large=RequestTooLarge,
            malformed=SerializationException,
        )
        if operation.input is not None:
            check_input(self.model, operation.input, body)
        return await handler(Context(self.service, host), body)


def _error_body(exc: SqsError) -> bytes:
    return json.dumps({"__type": exc.type_name(), "message": exc.message}).encode()
