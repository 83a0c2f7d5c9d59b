"""The Lambda API's data plane: Invoke.

POST   /2015-03-31/functions/{name}/invocations[?Qualifier=]     Invoke
POST   /2014-11-13/functions/{name}/invoke-async                 InvokeAsync (deprecated)
GET    /lambdalet/v1/async-events                                lambdalet's async counters

Headers in (X-Amz-Invocation-Type, X-Amz-Log-Type, X-Amz-Client-Context), payload checked, one
call of `Invoker.invoke`, the function's result and AWS's headers out. An Event invoke is one
call of `EventQueue.accept`: the 202 leaves once the event is on disk, carrying the request id
every attempt of the function will see.

Invoke is the hot path, so it is a raw ASGI app (`InvokeEndpoint`, reached through
`engine.api.app.FastRoute` without Starlette's router and middleware): it does what
`engine.api.common.guard` and a Starlette handler would (the request checked as the
operation's input, AWS's error shapes, a request id on every answer) on the scope itself, and
passes the function's payload through without decoding it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable
from typing import Final
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from engine.api.app import FastRoute
from engine.api.aws_routes import match_operation_labels
from engine.api.body import read_asgi_body, read_body
from engine.api.common import Handler, api_error_response, function_name, name_and_qualifier
from engine.api.validation import check_bodiless_input, validate_input
from engine.errors import (
    ApiError,
    InvalidRequestContentException,
    ServiceException,
    ValidationException,
)
from engine.events.queue import EventQueue
from engine.invoke.invoker import Invoker
from engine.model.limits import MAX_ASYNC_PAYLOAD_BYTES, MAX_SYNC_PAYLOAD_BYTES

logger = logging.getLogger(__name__)

MAX_CLIENT_CONTEXT_BYTES: Final = 3583
INVOCATION_TYPES: Final = ("Event", "RequestResponse", "DryRun")
LOG_TYPES: Final = ("None", "Tail")
_JSON: Final = (b"content-type", b"application/json")
_REQUEST_ID: Final = b"x-amzn-requestid"

# An answer on its way out: status, raw headers, body.
Answer = tuple[int, list[tuple[bytes, bytes]], bytes]


class InvokeApi:
    def __init__(self, invoker: Invoker, events: EventQueue) -> None:
        self.invoker = invoker
        self.events = events
        self.endpoint = InvokeEndpoint(self)

    async def invoke(
        self, scope: Scope, receive: Receive, name: str, qualifier: str | None
    ) -> Answer:
        """Invoke, past the model's checks: `name` and `qualifier` as the path and query
        give them."""
        headers = _headers(scope)
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
        declared = headers.get("content-length")
        if invocation_type == "DryRun":
            self.invoker.check(name, qualifier)
            return _answer(Response(status_code=204))
        if invocation_type == "Event":
            self.invoker.check(name, qualifier)
            payload = await read_asgi_body(receive, declared, MAX_ASYNC_PAYLOAD_BYTES, "Invoke")
            _check_json(payload)
            request_id = await self.events.accept(name, qualifier, payload)
            return _answer(Response(status_code=202, headers={"x-amzn-RequestId": request_id}))
        payload = await read_asgi_body(receive, declared, MAX_SYNC_PAYLOAD_BYTES, "Invoke")
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
        # As Starlette's Response(body, headers=out_headers, media_type=JSON) would send them.
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in out_headers.items()]
        raw.append((b"content-length", str(len(body)).encode("latin-1")))
        raw.append(_JSON)
        return 200, raw, body

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


class InvokeEndpoint:
    """``POST …/functions/{name}/invocations`` as a raw ASGI app: `guard`'s boundary and
    `function_name`'s parsing on the scope, then `InvokeApi.invoke`."""

    def __init__(self, api: InvokeApi) -> None:
        self.api = api
        self.region = api.invoker.region

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            status, headers, body = await self._answer(scope, receive)
        except ApiError as exc:
            status, headers, body = _answer(api_error_response(exc))
        except Exception:
            logger.exception("unexpected error in %s %s", scope["method"], scope["path"])
            err = ServiceException("lambdalet hit an internal error; see the daemon's log")
            status, headers, body = _answer(api_error_response(err))
        # Every AWS answer names its request; Invoke names the invocation itself.
        if not any(name == _REQUEST_ID for name, _ in headers):
            headers.append((_REQUEST_ID, str(uuid.uuid4()).encode("latin-1")))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async def _answer(self, scope: Scope, receive: Receive) -> Answer:
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        query: str = scope.get("query_string", b"").decode("latin-1")
        found = match_operation_labels(scope["method"], raw_path.decode("latin-1"), query)
        items = parse_qsl(query, keep_blank_values=True) if query else []
        if found is not None and not check_bodiless_input(*found, items, _headers(scope)):
            await validate_input(Request(scope, receive), *found)
        # As function_name(): the path's name (decoded once more) and the last ?Qualifier=.
        name, qualifier = name_and_qualifier(
            scope["path_params"]["name"], dict(items).get("Qualifier"), self.region
        )
        return await self.api.invoke(scope, receive, name, qualifier)


def _headers(scope: Scope) -> dict[str, str]:
    """The request's headers by (ASGI's lower-case) name; the first of a repeated one, as
    Starlette's ``Headers.get`` gives it. Kept in the scope: the request reads them twice."""
    found: dict[str, str] | None = scope.get("lambdalet.headers")
    if found is None:
        found = {}
        for name, value in scope["headers"]:
            key = name.decode("latin-1")
            if key not in found:
                found[key] = value.decode("latin-1")
        scope["lambdalet.headers"] = found
    return found


def _answer(response: Response) -> Answer:
    return response.status_code, list(response.raw_headers), bytes(response.body)


def _check_json(payload: bytes) -> None:
    if payload and not payload.isspace():  # as `payload.strip()`, without copying 6 MB
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
    return [
        FastRoute("/2015-03-31/functions/{name}/invocations", api.endpoint, methods=["POST"]),
        Route(
            "/2014-11-13/functions/{name}/invoke-async",
            guard(api.invoke_async),
            methods=["POST"],
        ),
        Route("/lambdalet/v1/async-events", guard(api.counters), methods=["GET"]),
    ]
