"""The AWS Lambda REST API (2015-03-31 paths) as a Starlette app.

Handlers only translate: JSON and headers in, service calls, JSON and headers out. Every
`ApiError` becomes AWS's error shape: status, ``x-amzn-ErrorType`` header, JSON body.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import unquote

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api_network import NetworkApi, network_routes
from engine.errors import (
    ApiError,
    InvalidRequestContentException,
    RequestTooLargeException,
    ServiceException,
    TooManyRequestsException,
    ValidationException,
)
from engine.functions import FunctionService
from engine.invoker import Invoker
from engine.network import NetworkService
from engine.runtimes import RuntimeCatalog
from engine.validation import (
    MAX_SYNC_PAYLOAD_BYTES,
    MAX_ZIP_BYTES,
    parse_create_function,
    parse_function_name,
    parse_update_function_code,
    parse_update_function_configuration,
    validate_max_items,
    validate_qualifier,
)

logger = logging.getLogger(__name__)

# A base64 ZipFile of 50 MiB inside JSON is about 70 MB; allow a little more for the rest.
MAX_CONTROL_BODY_BYTES = MAX_ZIP_BYTES * 4 // 3 + 1024 * 1024
MAX_CLIENT_CONTEXT_BYTES = 3583
INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")
LOG_TYPES = ("None", "Tail")

Handler = Callable[[Request], Awaitable[Response]]


class Api:
    def __init__(
        self,
        *,
        functions: FunctionService,
        invoker: Invoker,
        region: str,
        runtimes: RuntimeCatalog,
        network: NetworkService | None = None,
    ) -> None:
        self.functions = functions
        self.invoker = invoker
        self.region = region
        self.runtimes = runtimes
        self.network_api = NetworkApi(network)

    # -- helpers ------------------------------------------------------------------------

    async def _body(self, request: Request, limit: int, operation: str) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the {operation} operation"
            )
        if declared is not None:  # hypercorn enforces Content-Length: the body is that long
            return await request.body()
        chunks = bytearray()
        async for chunk in request.stream():  # chunked: count as it comes
            chunks += chunk
            if len(chunks) > limit:
                raise RequestTooLargeException(
                    f"Request must be smaller than {limit} bytes for the {operation} operation"
                )
        return bytes(chunks)

    async def _json(self, request: Request, operation: str) -> dict[str, Any]:
        raw = await self._body(request, MAX_CONTROL_BODY_BYTES, operation)
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
        return body

    def _name(self, request: Request) -> tuple[str, str | None]:
        name, qualifier = parse_function_name(unquote(request.path_params["name"]))
        q = request.query_params.get("Qualifier")
        if q is not None:
            qualifier = validate_qualifier(q)
        return name, qualifier

    def _config(self, name: str) -> dict[str, Any]:
        return self.functions.get(name).to_aws(self.region)

    # -- control plane ------------------------------------------------------------------

    async def create_function(self, request: Request) -> Response:
        body = await self._json(request, "CreateFunction")
        req = parse_create_function(
            body,
            supported_runtimes=self.runtimes.names(),
            explain_runtime=self.runtimes.unsupported_reason,
        )
        config = await self.functions.create(req)
        return JSONResponse(config.to_aws(self.region), status_code=201)

    async def list_functions(self, request: Request) -> Response:
        raw_max = request.query_params.get("MaxItems", "50")
        try:
            max_items = validate_max_items(int(raw_max))
        except ValueError:
            raise ValidationException(
                f"1 validation error detected: Value '{raw_max}' at 'maxItems' failed to "
                "satisfy constraint: Member must be an integer"
            ) from None
        items, marker = self.functions.list(
            marker=request.query_params.get("Marker"), max_items=max_items
        )
        out: dict[str, Any] = {"Functions": [c.to_aws(self.region) for c in items]}
        if marker:
            out["NextMarker"] = marker
        return JSONResponse(out)

    async def get_function(self, request: Request) -> Response:
        name, qualifier = self._name(request)
        self.invoker.check(name, qualifier)
        config = self.functions.get(name)
        return JSONResponse(
            {
                "Configuration": config.to_aws(self.region),
                "Code": {
                    "RepositoryType": "S3",
                    "Location": self.functions.code_zip(config).as_uri(),
                },
                "Tags": {},
            }
        )

    async def get_configuration(self, request: Request) -> Response:
        name, qualifier = self._name(request)
        self.invoker.check(name, qualifier)
        return JSONResponse(self._config(name))

    async def delete_function(self, request: Request) -> Response:
        name, qualifier = self._name(request)
        if qualifier is not None:
            self.invoker.check(name, qualifier)
        await self.functions.delete(name)
        return Response(status_code=204)

    async def update_code(self, request: Request) -> Response:
        name, _ = self._name(request)
        update = parse_update_function_code(await self._json(request, "UpdateFunctionCode"))
        config = await self.functions.update_code(name, update)
        return JSONResponse(config.to_aws(self.region))

    async def update_configuration(self, request: Request) -> Response:
        name, _ = self._name(request)
        body = await self._json(request, "UpdateFunctionConfiguration")
        changes = parse_update_function_configuration(
            body,
            supported_runtimes=self.runtimes.names(),
            explain_runtime=self.runtimes.unsupported_reason,
        )
        config = await self.functions.update_configuration(name, changes)
        return JSONResponse(config.to_aws(self.region))

    # -- data plane ---------------------------------------------------------------------

    async def invoke(self, request: Request) -> Response:
        name, qualifier = self._name(request)
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
            raise UnsupportedInvocationType()
        payload = await self._body(request, MAX_SYNC_PAYLOAD_BYTES, "Invoke")
        if payload.strip():
            try:
                json.loads(payload)
            except ValueError:
                raise InvalidRequestContentException(
                    "Could not parse request body into json: Could not parse payload into json"
                ) from None
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

    async def unknown(self, request: Request) -> Response:
        return _error_response(
            404,
            "UnknownOperationException",
            f"Unknown operation {request.method} {request.url.path}",
        )


class UnsupportedInvocationType(ApiError):
    error_type = "InvalidParameterValueException"
    status = 400
    kind = "User"

    def __init__(self) -> None:
        super().__init__(
            "InvocationType Event (asynchronous invocation) is not supported by this lambdalet "
            "host yet; use RequestResponse"
        )


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


def _error_response(status: int, error_type: str, message: str, kind: str = "User") -> Response:
    return JSONResponse(
        {"Type": kind, "message": message},
        status_code=status,
        headers={"x-amzn-ErrorType": error_type},
    )


def _guard(handler: Handler) -> Handler:
    """The per-request boundary: AWS errors as AWS shapes; anything else a logged 500."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            headers = {"x-amzn-ErrorType": exc.error_type}
            if isinstance(exc, TooManyRequestsException):
                headers["Retry-After"] = "1"
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        except Exception:
            logger.exception("unexpected error in %s %s", request.method, request.url.path)
            err = ServiceException("lambdalet hit an internal error; see the daemon's log")
            return JSONResponse(
                err.body(), status_code=500, headers={"x-amzn-ErrorType": err.error_type}
            )

    return guarded


def build_app(api: Api) -> Starlette:
    fn = "/2015-03-31/functions"
    routes = [  # the data plane first: it is matched on every invoke
        Route(fn + "/{name}/invocations", _guard(api.invoke), methods=["POST"]),
        Route(fn, _guard(api.create_function), methods=["POST"]),
        Route(fn, _guard(api.list_functions), methods=["GET"]),
        Route(fn + "/", _guard(api.list_functions), methods=["GET"]),
        Route(fn + "/{name}", _guard(api.get_function), methods=["GET"]),
        Route(fn + "/{name}", _guard(api.delete_function), methods=["DELETE"]),
        Route(fn + "/{name}/configuration", _guard(api.get_configuration), methods=["GET"]),
        Route(fn + "/{name}/configuration", _guard(api.update_configuration), methods=["PUT"]),
        Route(fn + "/{name}/code", _guard(api.update_code), methods=["PUT"]),
        *network_routes(api.network_api, _guard),
        Route("/{path:path}", api.unknown, methods=["GET", "POST", "PUT", "DELETE", "PATCH"]),
    ]
    return Starlette(routes=routes)


__all__ = ["Api", "build_app"]
