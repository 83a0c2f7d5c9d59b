"""Lambda API handlers for event source mappings.

POST   /2015-03-31/event-source-mappings          CreateEventSourceMapping (202)
GET    /2015-03-31/event-source-mappings          ListEventSourceMappings (?EventSourceArn=,
                                                   ?FunctionName=, ?Marker=, ?MaxItems=)
GET    /2015-03-31/event-source-mappings/{UUID}   GetEventSourceMapping
PUT    /2015-03-31/event-source-mappings/{UUID}   UpdateEventSourceMapping (202)
DELETE /2015-03-31/event-source-mappings/{UUID}   DeleteEventSourceMapping (202, `Deleting`)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler, max_items
from engine.control.event_source_mappings import EventSourceMappingService
from engine.model.event_source_requests import parse_create, parse_update

# "ListEventSourceMappings returns a maximum of 100 items in each response" (its
# documentation), whatever MaxItems asks for.
MAX_PAGE: Final = 100


class EventSourceMappingApi:
    def __init__(self, service: EventSourceMappingService) -> None:
        self.service = service

    async def create(self, request: Request) -> Response:
        req = parse_create(await read_json(request, "CreateEventSourceMapping"))
        mapping = await self.service.create(req)
        return JSONResponse(self.service.to_aws(mapping), status_code=202)

    async def get(self, request: Request) -> Response:
        mapping = self.service.get(request.path_params["uuid"])
        return JSONResponse(self.service.to_aws(mapping))

    async def update(self, request: Request) -> Response:
        changes = parse_update(await read_json(request, "UpdateEventSourceMapping"))
        mapping = await self.service.update(request.path_params["uuid"], changes)
        return JSONResponse(self.service.to_aws(mapping), status_code=202)

    async def delete(self, request: Request) -> Response:
        mapping = await self.service.delete(request.path_params["uuid"])
        return JSONResponse(self.service.to_aws(mapping), status_code=202)

    async def list(self, request: Request) -> Response:
        query = request.query_params
        found = self.service.list(
            source_arn=query.get("EventSourceArn"), function_name=query.get("FunctionName")
        )
        limit = min(max_items(request, default=MAX_PAGE), MAX_PAGE)
        marker = query.get("Marker")
        if marker:
            found = [m for m in found if m.uuid > marker]
        out: dict[str, Any] = {
            "EventSourceMappings": [self.service.to_aws(m) for m in found[:limit]]
        }
        if len(found) > limit:
            out["NextMarker"] = found[limit - 1].uuid
        return JSONResponse(out)


def event_source_mapping_routes(
    api: EventSourceMappingApi, guard: Callable[[Handler], Handler]
) -> list[Route]:
    path = "/2015-03-31/event-source-mappings"
    return [
        Route(path, guard(api.create), methods=["POST"]),
        Route(path, guard(api.list), methods=["GET"]),
        Route(f"{path}/{{uuid}}", guard(api.get), methods=["GET"]),
        Route(f"{path}/{{uuid}}", guard(api.update), methods=["PUT"]),
        Route(f"{path}/{{uuid}}", guard(api.delete), methods=["DELETE"]),
    ]
