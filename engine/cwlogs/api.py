"""CloudWatch Logs' JSON protocol as a bare ASGI app: ``POST /`` with
``X-Amz-Target: Logs_20140328.<Op>``, ``application/x-amz-json-1.1`` both ways.

The protocol's plumbing is `engine.shapes.json_service`'s: an error answers CloudWatch Logs'
JSON shape (``{"__type": "ResourceNotFoundException", "message": …}``, 400); an operation of
the model this engine does not build answers InvalidParameterException naming it; an
unexpected exception is logged once and answered as ServiceUnavailableException.
"""

from __future__ import annotations

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
from engine.runtime.log_store import LogStore
from engine.shapes.json_protocol import Receive, Scope, Send
from engine.shapes.json_service import JsonFaults, JsonService
from engine.shapes.model import ServiceModel, load_service

TARGET_PREFIX: Final = "Logs_20140328"
# A PutLogEvents batch is at most 1 MiB of events; JSON escaping can grow it several times.
MAX_REQUEST_BYTES: Final = 8 * 1024 * 1024
READER_THREADS: Final = 2  # log files read at once, in worker threads
HANDLERS: Final[dict[str, Handler]] = {**GROUP_HANDLERS, **STREAM_HANDLERS, **EVENT_HANDLERS}
FAULTS: Final = JsonFaults(
    unknown_operation=UnknownOperationException,
    not_implemented=not_implemented,
    too_large=RequestTooLarge,
    malformed=SerializationException,
    internal=lambda: ServiceUnavailableException("The service cannot complete the request."),
)


class CwLogsApp:
    def __init__(self, store: LogStore, *, region: str) -> None:
        self.context = Context(store, region, trio.CapacityLimiter(READER_THREADS))
        self.model: ServiceModel = load_service("logs")
        self.app = JsonService(
            name="CloudWatch Logs",
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
        return await handler(self.context, body)
