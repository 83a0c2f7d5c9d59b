"""Lambda API handlers for functions and their published versions.

POST|GET        /2015-03-31/functions                          CreateFunction / ListFunctions
GET|DELETE      /2015-03-31/functions/{name}                   GetFunction / DeleteFunction
GET|PUT         /2015-03-31/functions/{name}/configuration     Get/UpdateFunctionConfiguration
PUT             /2015-03-31/functions/{name}/code              UpdateFunctionCode
POST|GET        /2015-03-31/functions/{name}/versions          PublishVersion / ListVersions…
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler, function_name, max_items, paged, unqualified, version_key
from engine.control.functions import FunctionService
from engine.control.tags import TagService
from engine.errors import (
    InvalidParameterValueException,
    ResourceNotFoundException,
    ValidationException,
)
from engine.invoke.concurrency import Concurrency
from engine.model.arns import function_arn
from engine.model.function import LATEST, FunctionConfig
from engine.model.function_requests import (
    parse_create_function,
    parse_update_function_code,
    parse_update_function_configuration,
)
from engine.runtime.catalog import RuntimeCatalog


class FunctionApi:
    def __init__(
        self,
        *,
        functions: FunctionService,
        tags: TagService,
        concurrency: Concurrency,
        runtimes: RuntimeCatalog,
        region: str,
    ) -> None:
        self.functions = functions
        self.tags = tags
        self.concurrency = concurrency
        self.runtimes = runtimes
        self.region = region

    async def create_function(self, request: Request) -> Response:
        body = await read_json(request, "CreateFunction")
        req = parse_create_function(
            body,
            region=self.region,
            supported_runtimes=self.runtimes.names(),
            explain_runtime=self.runtimes.unsupported_reason,
        )
        config, version = await self.functions.create(req)
        out = config.to_aws(self.region)
        if version is not None:  # Publish: AWS shows $LATEST's configuration as version N
            out["Version"] = version.version
        return JSONResponse(out, status_code=201)

    async def list_functions(self, request: Request) -> Response:
        version = request.query_params.get("FunctionVersion")
        if version is None:
            items, marker = self.functions.page_functions(
                marker=request.query_params.get("Marker"), max_items=max_items(request)
            )
            out: dict[str, Any] = {"Functions": [c.to_aws(self.region, listed=True) for c in items]}
            if marker:
                out["NextMarker"] = marker
            return JSONResponse(out)
        if version != "ALL":
            raise ValidationException(
                f"1 validation error detected: Value '{version}' at 'functionVersion' failed "
                "to satisfy constraint: Member must satisfy enum value set: [ALL]"
            )
        return paged(
            request,
            self.functions.every_version(),
            field="Functions",
            key=lambda c: f"{c.name} {version_key(c)}",  # a space sorts before any name character
            render=lambda c: c.to_aws(self.region, qualified=True, listed=True),
        )

    async def get_function(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        config = self.functions.configuration(name, qualifier)
        out: dict[str, Any] = {
            "Configuration": self._configuration(config, name, qualifier),
            "Code": {
                "RepositoryType": "S3",
                "Location": self.functions.code_zip(config).as_uri(),
            },
        }
        tags = self.tags.stored(name)
        if tags:
            out["Tags"] = tags
        reserved = self.concurrency.reserved.get(name)
        if reserved is not None:
            out["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return JSONResponse(out)

    async def get_configuration(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        config = self.functions.configuration(name, qualifier)
        return JSONResponse(self._configuration(config, name, qualifier))

    def _configuration(
        self, config: FunctionConfig, name: str, qualifier: str | None
    ) -> dict[str, Any]:
        """The configuration a qualifier names; read through an alias, AWS shows the alias's
        ARN (the version it points at is in Version)."""
        out = config.to_aws(self.region, qualified=qualifier is not None)
        if qualifier is not None and qualifier != LATEST and not qualifier.isdigit():
            out["FunctionArn"] = function_arn(self.region, name, qualifier)
        return out

    async def delete_function(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        if qualifier is None:
            await self.functions.delete(name)
        elif qualifier == LATEST or qualifier.isdigit():
            try:
                await self.functions.delete_version(name, qualifier)
            except ResourceNotFoundException:
                self.functions.get(name)  # a missing function is still not found
                # ...but a version that never existed is deleted without complaint, as AWS
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
            render=lambda c: c.to_aws(self.region, qualified=True, listed=True),
        )


def function_routes(api: FunctionApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    fn = "/2015-03-31/functions"
    return [
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
    ]
