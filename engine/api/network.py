"""lambdalet's own REST API for VPCs and attached hosts (AWS manages these through EC2;
lambdalet keeps them simple): JSON documents under `/lambdalet/v1/`.

    GET    /lambdalet/v1/vpcs                 {"Vpcs": [doc, ...]}
    GET    /lambdalet/v1/vpcs/{id}            doc
    PUT    /lambdalet/v1/vpcs/{id}            doc (create or replace)   -> 200 doc
    DELETE /lambdalet/v1/vpcs/{id}                                      -> 204
    GET    /lambdalet/v1/hosts                {"Hosts": [host, ...]}
    PUT    /lambdalet/v1/hosts/{name}         {"subnet_id", "security_group_ids"} -> 201 host
    DELETE /lambdalet/v1/hosts/{name}                                   -> 204

Errors use the same AWS shape as the Lambda API.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.common import Handler
from engine.errors import InvalidParameterValueException, InvalidRequestContentException
from engine.network.service import NetworkService

PREFIX = "/lambdalet/v1"
MAX_BODY_BYTES = 1024 * 1024


class NetworkApi:
    def __init__(self, network: NetworkService | None) -> None:
        self._network = network

    @property
    def network(self) -> NetworkService:
        if self._network is None:
            raise InvalidParameterValueException(
                "networking is disabled on this lambdalet host (network.enabled = false)"
            )
        return self._network

    async def _json(self, request: Request) -> dict[str, Any]:
        raw = await request.body()
        if len(raw) > MAX_BODY_BYTES:
            raise InvalidRequestContentException(f"request body over {MAX_BODY_BYTES} bytes")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise InvalidRequestContentException("the request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise InvalidRequestContentException("the request body must be a JSON object")
        return body

    async def list_vpcs(self, request: Request) -> Response:
        return JSONResponse({"Vpcs": self.network.list_vpcs()})

    async def get_vpc(self, request: Request) -> Response:
        return JSONResponse(self.network.get_vpc(request.path_params["vpc_id"]))

    async def put_vpc(self, request: Request) -> Response:
        doc = await self._json(request)
        return JSONResponse(await self.network.put_vpc(request.path_params["vpc_id"], doc))

    async def delete_vpc(self, request: Request) -> Response:
        await self.network.delete_vpc(request.path_params["vpc_id"])
        return Response(status_code=204)

    async def list_hosts(self, request: Request) -> Response:
        return JSONResponse({"Hosts": self.network.list_hosts()})

    async def attach_host(self, request: Request) -> Response:
        body = await self._json(request)
        unknown = set(body) - {"subnet_id", "security_group_ids"}
        if unknown:
            raise InvalidParameterValueException(f"unknown field(s): {', '.join(sorted(unknown))}")
        subnet = body.get("subnet_id")
        groups = body.get("security_group_ids", [])
        if not isinstance(subnet, str):
            raise InvalidParameterValueException("subnet_id (a string) is required")
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise InvalidParameterValueException("security_group_ids must be a list of strings")
        host = await self.network.attach_host(request.path_params["name"], subnet, tuple(groups))
        return JSONResponse(host, status_code=201)

    async def detach_host(self, request: Request) -> Response:
        await self.network.detach_host(request.path_params["name"])
        return Response(status_code=204)


def network_routes(api: NetworkApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    vpcs, hosts = PREFIX + "/vpcs", PREFIX + "/hosts"
    return [
        Route(vpcs, guard(api.list_vpcs), methods=["GET"]),
        Route(vpcs + "/{vpc_id}", guard(api.get_vpc), methods=["GET"]),
        Route(vpcs + "/{vpc_id}", guard(api.put_vpc), methods=["PUT"]),
        Route(vpcs + "/{vpc_id}", guard(api.delete_vpc), methods=["DELETE"]),
        Route(hosts, guard(api.list_hosts), methods=["GET"]),
        Route(hosts + "/{name}", guard(api.attach_host), methods=["PUT"]),
        Route(hosts + "/{name}", guard(api.detach_host), methods=["DELETE"]),
    ]
