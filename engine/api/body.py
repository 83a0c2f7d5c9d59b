"""Reading a Lambda API request's body: bounded, and a JSON body parsed once per request.

`engine.api.validation` parses a JSON body to check it before the handler runs; the handler's
`read_json` then gets the same object back instead of parsing (maybe 70 MB) again.
`read_asgi_body` is the same bound for a handler that speaks raw ASGI (Invoke's hot path).
"""

from __future__ import annotations

import json
from typing import Any, Final

from starlette.requests import ClientDisconnect, Request
from starlette.types import Receive

from engine.errors import (
    ApiError,
    InvalidRequestContentException,
    RequestEntityTooLargeException,
    RequestTooLargeException,
)

# AWS's limit on a control-plane request (a base64 ZipFile of 50 MiB is 69,905,068 bytes).
MAX_CONTROL_BODY_BYTES: Final = 70_167_211
_PARSED: Final = "lambdalet.json_body"  # the scope key of a body already parsed


async def read_body(
    request: Request,
    limit: int,
    operation: str,
    error: type[ApiError] = RequestTooLargeException,
) -> bytes:
    """The body, at most `limit` bytes; over it, AWS's `error` naming the operation (an
    invocation's payload: RequestTooLarge; a control-plane request: RequestEntityTooLarge)."""
    declared = request.headers.get("content-length")
    too_large = error(f"Request must be smaller than {limit} bytes for the {operation} operation")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    if declared is not None:  # the HTTP server enforces Content-Length: the body is that long
        return await request.body()
    chunks = bytearray()
    async for chunk in request.stream():  # chunked: count as it comes
        chunks += chunk
        if len(chunks) > limit:
            raise too_large
    return bytes(chunks)


async def read_asgi_body(
    receive: Receive,
    declared: str | None,
    limit: int,
    operation: str,
    error: type[ApiError] = RequestTooLargeException,
) -> bytes:
    """`read_body` for a raw ASGI handler: `declared` is the request's Content-Length header
    (None: chunked). A client gone before the body ended is starlette's `ClientDisconnect`."""
    too_large = f"Request must be smaller than {limit} bytes for the {operation} operation"
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise error(too_large)
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        if message["type"] != "http.request":
            continue
        body: bytes = message.get("body", b"")
        parts.append(body)
        size += len(body)
        if declared is None and size > limit:  # chunked: count as it comes
            raise error(too_large)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def read_json(request: Request, operation: str) -> dict[str, Any]:
    """The body as a JSON object (an empty body is ``{}``), parsed once per request."""
    parsed: dict[str, Any] | None = request.scope.get(_PARSED)
    if parsed is not None:
        return parsed
    raw = await read_body(
        request, MAX_CONTROL_BODY_BYTES, operation, RequestEntityTooLargeException
    )
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidRequestContentException(
            "Could not parse request body into json: the body is not valid JSON"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestContentException(
            "Could not parse request body into json: expected a JSON object"
        )
    request.scope[_PARSED] = body
    return body
