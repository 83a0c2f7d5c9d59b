"""Lambda API handlers for aliases.

POST|GET        /2015-03-31/functions/{name}/aliases            CreateAlias / ListAliases
GET|PUT|DELETE  /2015-03-31/functions/{name}/aliases/{alias}    Get/Update/DeleteAlias
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler, paged, unqualified
from engine.control.functions import FunctionService
from engine.model.aliases import parse_alias_request


class AliasApi:
    def __init__(self, functions: FunctionService, *, region: str) -> None:
        self.functions = functions
        self.region = region

    async def create_alias(self, request: Request) -> Response:
        name = unqualified(request, "CreateAlias")
        req = parse_alias_request(await read_json(request, "CreateAlias"), create=True)
        alias = await self.functions.create_alias(name, req)
        return JSONResponse(alias.to_aws(self.region, name), status_code=201)

    async def list_aliases(self, request: Request) -> Response:
        name = unqualified(request, "ListAliases")
        version = request.query_params.get("FunctionVersion")
        aliases = [
            a for a in self.functions.aliases(name) if version is None or version in a.versions()
        ]
        return paged(
            request,
            aliases,
            field="Aliases",
            key=lambda a: a.name,
            render=lambda a: a.to_aws(self.region, name),
        )

    async def get_alias(self, request: Request) -> Response:
        name = unqualified(request, "GetAlias")
        alias = self.functions.read_alias(name, unquote(request.path_params["alias"]))
        return JSONResponse(alias.to_aws(self.region, name))

    async def update_alias(self, request: Request) -> Response:
        name = unqualified(request, "UpdateAlias")
        alias_name = unquote(request.path_params["alias"])
        req = parse_alias_request(await read_json(request, "UpdateAlias"), create=False)
        alias = await self.functions.update_alias(name, alias_name, req)
        return JSONResponse(alias.to_aws(self.region, name))

    async def delete_alias(self, request: Request) -> Response:
        name = unqualified(request, "DeleteAlias")
        await self.functions.delete_alias(name, unquote(request.path_params["alias"]))
        return Response(status_code=204)


def alias_routes(api: AliasApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    fn = "/2015-03-31/functions/{name}"
    return [
        Route(fn + "/aliases", guard(api.create_alias), methods=["POST"]),
        Route(fn + "/aliases", guard(api.list_aliases), methods=["GET"]),
        Route(fn + "/aliases/{alias}", guard(api.get_alias), methods=["GET"]),
        Route(fn + "/aliases/{alias}", guard(api.update_alias), methods=["PUT"]),
        Route(fn + "/aliases/{alias}", guard(api.delete_alias), methods=["DELETE"]),
    ]
