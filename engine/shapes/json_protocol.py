"""The request side the JSON services share (SQS, Kinesis, Scheduler): reading a bounded body
and parsing it as the JSON object AWS requires. Each service words its own faults, so it
passes the exception types to raise; the messages are AWS's."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def read_json_object(
    receive: Receive,
    *,
    max_bytes: int,
    too_large: Callable[[str], Exception],
    malformed: Callable[[str], Exception],
) -> dict[str, Any]:
    """The request body (at most `max_bytes`, else `too_large`) as a JSON object (else
    `malformed`); an empty body is the empty object."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > max_bytes:
            raise too_large(f"Request must be smaller than {max_bytes} bytes.")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    raw = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    try:
        body = json.loads(raw) if raw else {}
    except ValueError:
        raise malformed("The request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise malformed("The request body must be a JSON object.")
    return body
