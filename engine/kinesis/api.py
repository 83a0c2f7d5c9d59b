"""Kinesis's JSON protocol as a bare ASGI app: ``POST /`` with
``X-Amz-Target: Kinesis_20131202.<Op>``, ``application/x-amz-json-1.1`` both ways.

The protocol's plumbing is `engine.shapes.json_service`'s: an error answers Kinesis's JSON
shape (``{"__type": "ResourceNotFoundException", "message": …}``, 400); an operation of the
model this engine does not build answers InvalidArgumentException naming it; an unexpected
exception is logged once and answered as InternalFailure. A request with ``DryRun: true``
that passed the model's checks answers DryRunOperationException.
"""

from __future__ import annotations

from typing import Final

from engine.kinesis.context import Body, Context, Handler
from engine.kinesis.errors import (
    DryRunOperationException,
    InternalFailure,
    RequestTooLarge,
    SerializationException,
    UnknownOperationException,
    not_implemented,
)
from engine.kinesis.record_operations import RECORD_HANDLERS
from engine.kinesis.requests import check_input
from engine.kinesis.service import StreamService
from engine.kinesis.stream_operations import STREAM_HANDLERS
from engine.shapes.json_protocol import Receive, Scope, Send
from engine.shapes.json_service import JsonFaults, JsonService
from engine.shapes.model import ServiceModel, load_service

TARGET_PREFIX: Final = "Kinesis_20131202"
# 10 MiB of records in a PutRecords, base64 (4/3) and JSON around them.
MAX_REQUEST_BYTES: Final = 16 * 1024 * 1024
HANDLERS: Final[dict[str, Handler]] = {**STREAM_HANDLERS, **RECORD_HANDLERS}
FAULTS: Final = JsonFaults(
    unknown_operation=UnknownOperationException,
    not_implemented=not_implemented,
    too_large=RequestTooLarge,
    malformed=SerializationException,
    internal=lambda: InternalFailure("We encountered an internal error. Please try again."),
)


class KinesisApp:
    def __init__(self, service: StreamService, *, region: str) -> None:
        self.service = service
        self.region = region
        self.model: ServiceModel = load_service("kinesis")
        self.app = JsonService(
            name="Kinesis",
            model=self.model,
            target_prefix=TARGET_PREFIX,
            content_type=b"application/x-amz-json-1.1",
            max_request_bytes=MAX_REQUEST_BYTES,
            faults=FAULTS,
            check_input=check_input,
            handlers=HANDLERS,
            call=self._call,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)

    async def _call(self, handler: Handler, body: Body, scope: Scope) -> Body:
        if body.get("DryRun") is True:
            raise DryRunOperationException("Request would have succeeded, but DryRun flag is set.")
        return await handler(Context(self.service), body)
