"""The AWS Lambda REST API as a Starlette app: functions, versions and Invoke here; aliases,
layers, concurrency, function URLs, tags and policies in the `api_*` modules beside it.

Handlers only translate: JSON and headers in, service calls, JSON and headers out; errors
become AWS's shape in `api_common.guard`. An operation AWS has and lambdalet does not answers
501 naming it (`engine.api.aws_routes`); an unknown path answers 404 UnknownOperationException.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.aws_routes import match_operation
from engine.api.common import (
    error_response,
    function_name,
    guard,
    max_items,
    paged,
    read_body,
    read_json,
    unqualified,
    version_key,
)
from engine.api.network import NetworkApi, network_routes
from engine.control.functions import FunctionService
from engine.errors import (
    ApiError,
    InvalidParameterValueException,
    InvalidRequestContentException,
    ValidationException,
)
from engine.invoke.concurrency import Concurrency
from engine.invoke.invoker import Invoker
from engine.model.function import LATEST
from engine.model.function_requests import (
    parse_create_function,
    parse_update_function_code,
    parse_update_function_configuration,
)
from engine.model.limits import MAX_SYNC_PAYLOAD_BYTES
from engine.network.service import NetworkService
from engine.runtime.catalog import RuntimeCatalog

logger = logging.getLogger(__name__)

MAX_CLIENT_CONTEXT_BYTES = 3583
INVOCATION_TYPES = ("Event", "RequestResponse", "DryRun")
LOG_TYPES = ("None", "Tail")


class Api:
    def __init__(
        self,
        *,
        functions: FunctionService,
        invoker: Invoker,
        region: str,
        runtimes: RuntimeCatalog,
        concurrency: Concurrency,
        network: NetworkService | None = None,
    ) -> None:
        self.functions = functions
        self.invoker = invoker
        self.region = region
        self.runtimes = runtimes
        self.concurrency = concurrency
        self.network_api = NetworkApi(network)

    # -- control plane ------------------------------------------------------------------

    async def create_function(self, request: Request) -> Response:
        body = await read_json(request, "CreateFunction")
        req = parse_create_function(
            body,
            supported_runtimes=self.runtimes.names(),
            explain_runtime=self.runtimes.unsupported_reason,
        )
        config = await self.functions.create(req)
        return JSONResponse(config.to_aws(self.region), status_code=201)

    async def list_functions(self, request: Request) -> Response:
        version = request.query_params.get("FunctionVersion")
        if version is None:
            items, marker = self.functions.registry.page_functions(
                marker=request.query_params.get("Marker"), max_items=max_items(request)
            )
            out: dict[str, Any] = {"Functions": [c.to_aws(self.region) for c in items]}
            if marker:
                out["NextMarker"] = marker
            return JSONResponse(out)
        if version != "ALL":
            raise ValidationException(
                f"1 validation error detected: Value '{version}' at 'functionVersion' failed "
                "to satisfy constraint: Member must satisfy enum value set: [ALL]"
            )
        configs = [
            v
            for c in self.functions.registry.all_functions()
            for v in self.functions.versions(c.name)
        ]
        return paged(
            request,
            configs,
            field="Functions",
            key=lambda c: f"{c.name} {version_key(c)}",  # a space sorts before any name character
            render=lambda c: c.to_aws(self.region),
        )

    async def get_function(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        config = self.functions.configuration(name, qualifier)
        out: dict[str, Any] = {
            "Configuration": config.to_aws(self.region),
            "Code": {
                "RepositoryType": "S3",
                "Location": self.functions.code_zip(config).as_uri(),
            },
        }
        tags = self.functions.registry.get_document("tags", name)
        if tags:
            out["Tags"] = tags
        reserved = self.concurrency.reserved.get(name)
        if reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return JSONResponse(out)

    async def get_configuration(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        return JSONResponse(self.functions.configuration(name, qualifier).to_aws(self.region))

    async def delete_function(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        if qualifier is None:
            await self.functions.delete(name)
        elif qualifier == LATEST or qualifier.isdigit():
            await self.functions.delete_version(name, qualifier)
        else:
            self.functions.get_alias(name, qualifier)
            raise InvalidParameterValueException(
                "Deletion of aliases is not supported through DeleteFunction; use DeleteAlias"
            )
        return Response(status_code=204)

    async def update_code(self, request: Request) -> Response:
        name = unqualified(request, "UpdateFunctionCode")
        update = parse_update_function_code(await read_json(request, "UpdateFunctionCode"))
        config = await self.functions.update_code(name, update)
        return JSONResponse(config.to_aws(self.region))

    async def update_configuration(self, request: Request) -> Response:
        name = unqualified(request, "UpdateFunctionConfiguration")
        body = await read_json(request, "UpdateFunctionConfiguration")
        changes = parse_update_function_configuration(
            body,
            supported_runtimes=self.runtimes.names(),
            explain_runtime=self.runtimes.unsupported_reason,
        )
        config = await self.functions.update_configuration(name, changes)
        return JSONResponse(config.to_aws(self.region))

    # -- versions -----------------------------------------------------------------------

    async def publish_version(self, request: Request) -> Response:
        name = unqualified(request, "PublishVersion")
        body = await read_json(request, "PublishVersion")
        fields = {}
        for key, arg in (
            ("CodeSha256", "code_sha256"),
            ("RevisionId", "revision_id"),
            ("Description", "description"),
        ):
            value = body.get(key)
            if value is not None and not isinstance(value, str):
                raise InvalidParameterValueException(f"{key} must be a string")
            fields[arg] = value
        if len(fields["description"] or "") > 256:
            raise ValidationException(
                "1 validation error detected: Value at 'description' failed to satisfy "
                "constraint: Member must have length less than or equal to 256"
            )
        version = await self.functions.publish_version(name, **fields)
        return JSONResponse(version.to_aws(self.region), status_code=201)

    async def list_versions(self, request: Request) -> Response:
        name = unqualified(request, "ListVersionsByFunction")
        versions = self.functions.versions(name)
        return paged(
            request,
            versions,
            field="Versions",
            key=version_key,
            render=lambda c: c.to_aws(self.region),
        )

    # -- data plane ---------------------------------------------------------------------

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
            raise UnsupportedInvocationType()
        payload = await read_body(request, MAX_SYNC_PAYLOAD_BYTES, "Invoke")
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
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        operation = match_operation(request.method, raw_path.decode("latin-1"), request.url.query)
        if operation is not None:
            return error_response(
                501,
                "NotImplementedException",
                f"lambdalet does not implement the Lambda operation {operation.name} "
                f"({operation.method} {operation.uri}) yet",
            )
        return error_response(
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


def build_app(api: Api, extra_routes: list[Route]) -> Starlette:
    fn = "/2015-03-31/functions"
    routes = [  # the data plane first: it is matched on every invoke
        Route(fn + "/{name}/invocations", guard(api.invoke), methods=["POST"]),
        Route(fn, guard(api.create_function), methods=["POST"]),
        Route(fn, guard(api.list_functions), methods=["GET"]),
        Route(fn + "/", guard(api.list_functions), methods=["GET"]),
        Route(fn + "/{name}", guard(api.get_function), methods=["GET"]),
        Route(fn + "/{name}", guard(api.delete_function), methods=["DELETE"]),
        Route(fn + "/{name}/configuration", guard(api.get_configuration), methods=["GET"]),
        Route(fn + "/{name}/configuration", guard(api.update_configuration), methods=["PUT"]),
        Route(fn + "/{name}/code", guard(api.update_code), methods=["PUT"]),
        Route(fn + "/{name}/versions", guard(api.publish_version), methods=["POST"]),
        Route(fn + "/{name}/versions", guard(api.list_versions), methods=["GET"]),
        *extra_routes,
        *network_routes(api.network_api, guard),
        Route(
            "/{path:path}",
            api.unknown,
            methods=["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"],
        ),
    ]
    return Starlette(routes=routes)


__all__ = ["Api", "build_app"]
