"""What the x-amz-json services share (SQS, Kinesis, CloudWatch Logs), as a bare ASGI app:
``POST /`` with ``X-Amz-Target: <prefix>.<Operation>``, JSON both ways.

The hot path is lean on purpose (no framework, no middleware): the headers are scanned once,
the operation looked up in the service's botocore model (one this engine does not build is the
service's `not_implemented` error, naming it, before the body is read), the body read within
the service's bound and parsed once, checked against the operation's input shape, and handed to
the service's handler. Every answer carries ``x-amzn-RequestId``; an error of the service's
kind answers its JSON shape (``{"__type": …, "message": …}`` unless the service words it
otherwise); an unexpected exception is logged once with the request id and answered as the
service's internal error (a 500).
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from engine.errors import ApiError
from engine.shapes.json_protocol import Receive, Scope, Send, read_json_object
from engine.shapes.model import ServiceModel

logger = logging.getLogger(__name__)

H = TypeVar("H")  # a service's handler
Body = dict[str, Any]
Header = tuple[bytes, bytes]


def aws_json_error(exc: ApiError) -> bytes:
    """The JSON protocol's error body: ``{"__type": …, "message": …}``."""
    return json.dumps({"__type": exc.error_type, "message": exc.message}).encode()


def no_headers(exc: ApiError) -> list[Header]:
    return []


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonFaults:
    """A service's words for the protocol's faults (each makes the error to raise)."""

    unknown_operation: Callable[[str], ApiError]  # no such target, or not a POST
    not_implemented: Callable[[str], ApiError]  # an operation of the model not built here
    too_large: Callable[[str], ApiError]  # the body is past the service's bound
    malformed: Callable[[str], ApiError]  # the body is not a JSON object
    internal: Callable[[], ApiError]  # anything unexpected (a 500)


@dataclass(kw_only=True)
class JsonService(Generic[H]):
    """One x-amz-json service as an ASGI app. `call` runs a handler on a checked body (the
    request's scope at hand: a service may read a header of its own)."""

    name: str  # for the log
    model: ServiceModel
    target_prefix: str  # "Kinesis_20131202": the target is "<prefix>.<Operation>"
    content_type: bytes
    max_request_bytes: int
    faults: JsonFaults
    check_input: Callable[[ServiceModel, str, Mapping[str, Any]], None]
    handlers: Mapping[str, H]
    call: Callable[[H, Body, Scope], Awaitable[Any]]
    answered: type[ApiError] = ApiError  # the errors answered as such (else: internal)
    error_body: Callable[[Any], bytes] = aws_json_error
    error_headers: Callable[[Any], list[Header]] = no_headers
    _prefix: str = field(init=False)

    def __post_init__(self) -> None:
        self._prefix = self.target_prefix + "."

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
        headers = [(b"content-type", self.content_type), (b"x-amzn-requestid", request_id.encode())]
        try:
            payload = json.dumps(await self._answer(scope, receive, target)).encode()
        except self.answered as exc:
            status, payload = exc.status, self.error_body(exc)
            headers += self.error_headers(exc)
        except Exception:  # the request's boundary: log once, answer AWS's 500
            logger.exception("%s request %s (%s) failed", self.name, request_id, target)
            internal = self.faults.internal()
            status, payload = internal.status, self.error_body(internal)
            headers += self.error_headers(internal)
        headers.append((b"content-length", str(len(payload)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def _answer(self, scope: Scope, receive: Receive, target: str) -> Any:
        operation = (
            self.model.operations.get(target[len(self._prefix) :])
            if target.startswith(self._prefix)
            else None
        )
        if operation is None or scope["method"] != "POST":
            raise self.faults.unknown_operation(f"Unknown operation {target or scope['method']}")
        handler = self.handlers.get(operation.name)
        if handler is None:
            raise self.faults.not_implemented(operation.name)
        body = await read_json_object(
            receive,
            max_bytes=self.max_request_bytes,
            too_large=self.faults.too_large,
            malformed=self.faults.malformed,
        )
        if operation.input is not None:
            self.check_input(self.model, operation.input, body)
        return await self.call(handler, body, scope)
