"""Kinesis's JSON protocol as a bare ASGI app: ``POST /`` with
``X-Amz-Target: Kinesis_20131202.<Op>``, ``application/x-amz-json-1.1`` both ways.

As SqsApp: the headers are scanned once, the body read within a bound and parsed once,
checked against the operation's input shape from botocore's model, and handed to the
operation's handler. Every answer carries ``x-amzn-RequestId``; an error answers Kinesis's
JSON shape (``{"__type": "ResourceNotFoundException", "message": …}``, 400). An operation of
the model this engine does not build answers InvalidArgumentException naming it. An
unexpected exception is logged once with the request id and answered as InternalFailure.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Final

from engine.errors import ApiError
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
from engine.shapes.json_protocol import Receive, Scope, Send, read_json_object
from engine.shapes.model import ServiceModel, load_service

logger = logging.getLogger(__name__)

# 10 MiB of records in a PutRecords, base64 (4/3) and JSON around them.
MAX_REQUEST_BYTES: Final = 16 * 1024 * 1024
_CONTENT_TYPE: Final = (b"content-type", b"application/x-amz-json-1.1")
HANDLERS: Final[dict[str, Handler]] = {**STREAM_HANDLERS, **RECORD_HANDLERS}
_PREFIX: Final = "Kinesis_20131202."


class KinesisApp:
    def __init__(self, service: StreamService, *, region: str) -> None:
        self.service = service
        self.region = region
        self.model: ServiceModel = load_service("kinesis")

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
            logger.exception("Kinesis request %s (%s) failed", request_id, target)
            internal = InternalFailure("We encountered an internal error. Please try again.")
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
        if body.get("DryRun") is True:
            raise DryRunOperationException("Request would have succeeded, but DryRun flag is set.")
        return await handler(Context(self.service), body)


def _error_body(exc: ApiError) -> bytes:
    return json.dumps({"__type": exc.error_type, "message": exc.message}).encode()
