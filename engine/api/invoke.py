"""The Lambda API's data plane: Invoke.

POST   /2015-03-31/functions/{name}/invocations[?Qualifier=]     Invoke
POST   /2014-11-13/functions/{name}/invoke-async                 InvokeAsync (deprecated)
GET    /lambdalet/v1/async-events                                lambdalet's async counters

Headers in (X-Amz-Invocation-Type, X-Amz-Log-Type, X-Amz-Client-Context), payload checked, one
call of `Invoker.invoke`, the function's result and AWS's headers out. An Event invoke is one
call of `EventQueue.accept`: the 202 leaves once the event is on disk, carrying the request id
every attempt of the function will see.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.api.body import read_body
from engine.api.common import Handler, function_name
from engine.errors import InvalidRequestContentException, ValidationException
from engine.events.queue import EventQueue
from engine.invoke.invoker import Invoker
from engine.model.limits import MAX_ASYNC_PAYLOAD_BYTES, MAX_SYNC_PAYLOAD_BYTES

MAX_CLIENT_CONTEXT_BYTES: Final = 3583
INVOCATION_TYPES: Final = ("Event", "RequestResponse", "DryRun")
LOG_TYPES: Final = ("None", "Tail")


class InvokeApi:
    def __init__(self, invoker: Invoker, events: EventQueue) -> None:
        self.invoker = invoker
        self.events = events

    async def invoke(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        headers = request.headers
        invocation_type = headers.get("x-amz-invocation-type", "RequestResponse")
        log_type = headers.get("x-amz-log-type", "None")
        if invocation_type not in INVOCATION_TYPES:
            raise ValidationException(
                f"1 validation error detected: Value '{invocation_type}' at 'invocationType' "
                f"failed to satisfy constraint: Member must satisfy enum value set: "
                f"[{', '.join(INVOCATION_TYPES)}]"
            )
        if log_type not in LOG_TYPES:
            raise ValidationException(
                f"1 validation error detected: Value '{log_type}' at 'logType' failed to "
                f"satisfy constraint: Member must satisfy enum value set: [{', '.join(LOG_TYPES)}]"
            )
        if invocation_type == "DryRun":
            self.invoker.check(name, qualifier)
            return Response(status_code=204)
        if invocation_type == "Event":
            self.invoker.check(name, qualifier)
            payload = await read_body(request, MAX_ASYNC_PAYLOAD_BYTES, "Invoke")
            _check_json(payload)
            request_id = await self.events.accept(name, qualifier, payload)
            return Response(status_code=202, headers={"x-amzn-RequestId": request_id})
        payload = await read_body(request, MAX_SYNC_PAYLOAD_BYTES, "Invoke")
        _check_json(payload)
        client_context = _client_context(headers.get("x-amz-client-context"))
        result = await self.invoker.invoke(name, qualifier, payload, client_context=client_context)
        outcome = result.outcome
        out_headers = {
            "X-Amz-Executed-Version": result.executed_version,
            "x-amzn-RequestId": result.request_id,
        }
        if outcome.function_error:
            out_headers["X-Amz-Function-Error"] = outcome.function_error
        if log_type == "Tail":
            out_headers["X-Amz-Log-Result"] = base64.b64encode(outcome.log_tail).decode()
        body = outcome.payload
        if len(body) > MAX_SYNC_PAYLOAD_BYTES:
            body = json.dumps(
                {
                    "errorMessage": f"Response payload size ({len(body)} bytes) exceeded maximum "
                    f"allowed payload size ({MAX_SYNC_PAYLOAD_BYTES} bytes).",
                    "errorType": "Function.ResponseSizeTooLarge",
                }
            ).encode()
            out_headers["X-Amz-Function-Error"] = "Unhandled"
        return Response(body, status_code=200, headers=out_headers, media_type="application/json")

    async def invoke_async(self, request: Request) -> Response:
        """The deprecated InvokeAsync: an Event invoke of $LATEST answering ``{"Status": 202}``."""
        name, qualifier = function_name(request)
        self.invoker.check(name, qualifier)
        payload = await read_body(request, MAX_ASYNC_PAYLOAD_BYTES, "InvokeAsync")
        _check_json(payload)
        request_id = await self.events.accept(name, qualifier, payload)
        return Response(
            b'{"Status":202}',
            status_code=202,
            headers={"x-amzn-RequestId": request_id},
            media_type="application/json",
        )

    async def counters(self, request: Request) -> Response:
        events = self.events
        body = events.counters.as_json(backlog=events.backlog, in_flight=events.in_flight)
        return Response(json.dumps(body), media_type="application/json")


def _check_json(payload: bytes) -> None:
    if payload.strip():
        try:
            json.loads(payload)
        except ValueError:
            raise InvalidRequestContentException(
                "Could not parse request body into json: Could not parse payload into json"
            ) from None


def _client_context(raw: str | None) -> str | None:
    if raw is None:
        return None
    if len(raw) > MAX_CLIENT_CONTEXT_BYTES:
        raise InvalidRequestContentException(
            f"Client context must be at most {MAX_CLIENT_CONTEXT_BYTES} bytes of base64"
        )
    try:
        text = base64.b64decode(raw, validate=True).decode()
        if not isinstance(json.loads(text), dict):
            raise ValueError("not an object")
    except (binascii.Error, ValueError):
        raise InvalidRequestContentException(
            "Client context must be a valid Base64-encoded JSON object."
        ) from None
    return text


def invoke_routes(api: InvokeApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    invocations = "/2015-03-31/functions/{name}/invocations"
    return [
        Route(invocations, guard(api.invoke), methods=["POST"]),
        Route(
            "/2014-11-13/functions/{name}/invoke-async",
            guard(api.invoke_async),
            methods=["POST"],
        ),
        Route("/lambdalet/v1/async-events", guard(api.counters), methods=["GET"]),
    ]
