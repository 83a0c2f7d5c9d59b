"""SQS's JSON protocol as a bare ASGI app: ``POST /`` with ``X-Amz-Target: AmazonSQS.<Op>``.

The protocol's plumbing is `engine.shapes.json_service`'s: an error answers SQS's JSON shape
with the ``x-amzn-query-error`` header (`engine.sqs.errors`); an operation of the model this
engine does not build answers UnsupportedOperation naming it; an unexpected exception is
logged once and answered as InternalError. A handler sees the request's Host (queue URLs are
made from it).
"""

from __future__ import annotations

import json
from typing import Final

from engine.shapes.json_protocol import Receive, Scope, Send
from engine.shapes.json_service import Header, JsonFaults, JsonService
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

TARGET_PREFIX: Final = "AmazonSQS"
# A 1 MiB message and its attributes, JSON-escaped at worst (\uXXXX for every byte: 6x).
MAX_REQUEST_BYTES: Final = 6 * 1024 * 1024 + 65_536
HANDLERS: Final[dict[str, Handler]] = {**QUEUE_HANDLERS, **MESSAGE_HANDLERS}
FAULTS: Final = JsonFaults(
    unknown_operation=UnknownOperation,
    not_implemented=lambda operation: UnsupportedOperation(
        f"lambdalet does not implement the SQS operation {operation} yet."
    ),
    too_large=RequestTooLarge,
    malformed=SerializationException,
    internal=lambda: InternalError("We encountered an internal error. Please try again."),
)


class SqsApp:
    def __init__(self, service: QueueService, *, region: str) -> None:
        self.service = service
        self.region = region
        self.model: ServiceModel = load_service("sqs")
        self.app = JsonService(
            name="SQS",
            model=self.model,
            target_prefix=TARGET_PREFIX,
            content_type=b"application/x-amz-json-1.0",
            max_request_bytes=MAX_REQUEST_BYTES,
            faults=FAULTS,
            check_input=check_input,
            handlers=HANDLERS,
            call=self._call,
            answered=SqsError,
            error_body=_error_body,
            error_headers=_error_headers,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def _call(self, handler: Handler, body: Body, scope: Scope) -> Body:
        host = ""
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1")
                break
        return await handler(Context(self.service, host), body)


def _error_body(exc: SqsError) -> bytes:
    return json.dumps({"__type": exc.type_name(), "message": exc.message}).encode()


def _error_headers(exc: SqsError) -> list[Header]:
    return [(b"x-amzn-query-error", exc.query_header().encode())]
