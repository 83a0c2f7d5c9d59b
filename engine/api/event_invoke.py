"""Lambda API handlers for asynchronous invocation settings (EventInvokeConfig).

PUT    /2019-09-25/functions/{name}/event-invoke-config?Qualifier=   Put…EventInvokeConfig
POST   /2019-09-25/functions/{name}/event-invoke-config?Qualifier=   Update…EventInvokeConfig
GET    /2019-09-25/functions/{name}/event-invoke-config?Qualifier=   Get…EventInvokeConfig
DELETE /2019-09-25/functions/{name}/event-invoke-config?Qualifier=   Delete…EventInvokeConfig
GET    /2019-09-25/functions/{name}/event-invoke-config/list         List…EventInvokeConfigs
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler, function_name, paged
from engine.control.event_invoke import EventInvokeConfigService, paging_key
from engine.model.event_invoke import parse_event_invoke_config


class EventInvokeApi:
    def __init__(self, service: EventInvokeConfigService) -> None:
        self.service = service

    async def put(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        req = parse_event_invoke_config(await read_json(request, "PutFunctionEventInvokeConfig"))
        config = await self.service.put(name, qualifier, req)
        return JSONResponse(self.service.to_aws(name, qualifier, config))

    async def update(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        body = await read_json(request, "UpdateFunctionEventInvokeConfig")
        req = parse_event_invoke_config(body)
        config = await self.service.update(name, qualifier, req)
        return JSONResponse(self.service.to_aws(name, qualifier, config))

    async def get(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        config = self.service.get(name, qualifier)
        return JSONResponse(self.service.to_aws(name, qualifier, config))

    async def delete(self, request: Request) -> Response:
        name, qualifier = function_name(request)
        await self.service.delete(name, qualifier)
        return Response(status_code=204)

    async def list(self, request: Request) -> Response:
        name, _ = function_name(request)  # the operation takes no qualifier: a function's list
        return paged(
            request,
            self.service.list(name),
            field="FunctionEventInvokeConfigs",
            key=lambda item: paging_key(item[0]),
            render=lambda item: self.service.to_aws(name, item[0], item[1]),
        )


def event_invoke_routes(api: EventInvokeApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    path = "/2019-09-25/functions/{name}/event-invoke-config"
    return [
        Route(f"{path}/list", guard(api.list), methods=["GET"]),
        Route(path, guard(api.put), methods=["PUT"]),
        Route(path, guard(api.update), methods=["POST"]),
        Route(path, guard(api.get), methods=["GET"]),
        Route(path, guard(api.delete), methods=["DELETE"]),
    ]
