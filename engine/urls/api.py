"""Lambda API handlers for function URL configurations (2021-10-31 paths).

POST|GET|PUT|DELETE /2021-10-31/functions/{name}/url[?Qualifier=alias]
GET                 /2021-10-31/functions/{name}/urls      ListFunctionUrlConfigs
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler, function_name, paged, unqualified
from engine.urls.config import parse_url_config
from engine.urls.service import UrlService


class UrlApi:
    def __init__(self, urls: UrlService) -> None:
        self.urls = urls

    def _target(self, request: Request) -> tuple[str, str | None]:
        """The function or alias (the model's patterns refuse a version's qualifier)."""
        return function_name(request)

    async def create(self, request: Request) -> Response:
        name, qualifier = self._target(request)
        req = parse_url_config(await read_json(request, "CreateFunctionUrlConfig"), create=True)
        config = await self.urls.create(name, qualifier, req)
        return JSONResponse(self.urls.to_aws(config, for_create=True), status_code=201)

    async def get(self, request: Request) -> Response:
        name, qualifier = self._target(request)
        return JSONResponse(self.urls.to_aws(self.urls.get(name, qualifier)))

    async def update(self, request: Request) -> Response:
        name, qualifier = self._target(request)
        req = parse_url_config(await read_json(request, "UpdateFunctionUrlConfig"), create=False)
        config = await self.urls.update(name, qualifier, req)
        return JSONResponse(self.urls.to_aws(config, for_write=True))

    async def delete(self, request: Request) -> Response:
        name, qualifier = self._target(request)
        await self.urls.delete(name, qualifier)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        name = unqualified(request, "ListFunctionUrlConfigs")
        configs = self.urls.list(name)
        return paged(
            request,
            configs,
            field="FunctionUrlConfigs",
            key=lambda c: f"/{c.qualifier or ''}",  # "/": the function's own first, never ""
            render=self.urls.to_aws,
        )


def url_routes(api: UrlApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    url = "/2021-10-31/functions/{name}/url"
    return [
        Route(url, guard(api.create), methods=["POST"]),
        Route(url, guard(api.get), methods=["GET"]),
        Route(url, guard(api.update), methods=["PUT"]),
        Route(url, guard(api.delete), methods=["DELETE"]),
        Route("/2021-10-31/functions/{name}/urls", guard(api.list), methods=["GET"]),
    ]
