"""Lambda API handlers for layers (2018-10-31 paths).

GET                /2018-10-31/layers                               ListLayers
GET                /2018-10-31/layers?find=LayerVersion&Arn=        GetLayerVersionByArn
POST|GET           /2018-10-31/layers/{layer}/versions              Publish/ListLayerVersions
GET|DELETE         /2018-10-31/layers/{layer}/versions/{number}     Get/DeleteLayerVersion
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler, paged
from engine.control.layers import LayerService
from engine.errors import InvalidParameterValueException
from engine.model.arns import layer_arn
from engine.model.layers import (
    LayerVersion,
    check_layer_version_number,
    parse_layer_name,
    parse_layer_version_arn,
    parse_publish_layer_version,
)


class LayerApi:
    def __init__(self, layers: LayerService, *, region: str) -> None:
        self.layers = layers
        self.region = region

    def _layer_aws(self, layer: LayerVersion) -> dict[str, Any]:
        return layer.to_aws(self.region, location=self.layers.location(layer))

    def _layer(self, request: Request) -> str:
        return parse_layer_name(unquote(request.path_params["layer"]), region=self.region)

    def _version_number(self, request: Request) -> int:
        raw = request.path_params["number"]
        try:
            number = int(raw)
        except ValueError:
            raise InvalidParameterValueException(f"Invalid layer version number: {raw}") from None
        check_layer_version_number(number)
        return number

    def _filters(self, request: Request) -> dict[str, str | None]:
        return {
            "runtime": request.query_params.get("CompatibleRuntime"),
            "architecture": request.query_params.get("CompatibleArchitecture"),
        }

    async def publish_layer_version(self, request: Request) -> Response:
        body = await read_json(request, "PublishLayerVersion")
        req = parse_publish_layer_version(
            unquote(request.path_params["layer"]), body, region=self.region
        )
        layer = await self.layers.publish(req)
        return JSONResponse(self._layer_aws(layer), status_code=201)

    async def list_layer_versions(self, request: Request) -> Response:
        versions = self.layers.versions(self._layer(request), **self._filters(request))
        versions.reverse()  # newest first, as AWS lists them
        return paged(
            request,
            versions,
            field="LayerVersions",
            key=lambda v: f"{10**12 - v.version:012d}",  # newest first
            render=lambda v: v.list_item(self.region),
        )

    async def get_layer_version(self, request: Request) -> Response:
        layer = self.layers.get(self._layer(request), self._version_number(request))
        return JSONResponse(self._layer_aws(layer))

    async def delete_layer_version(self, request: Request) -> Response:
        await self.layers.delete(self._layer(request), self._version_number(request))
        return Response(status_code=204)

    async def list_layers(self, request: Request) -> Response:
        if request.query_params.get("find") == "LayerVersion":
            return await self._get_layer_version_by_arn(request)
        return paged(
            request,
            self.layers.latest_per_layer(**self._filters(request)),
            field="Layers",
            key=lambda v: v.layer,
            render=lambda v: {
                "LayerName": v.layer,
                "LayerArn": layer_arn(self.region, v.layer),
                "LatestMatchingVersion": v.list_item(self.region),
            },
        )

    async def _get_layer_version_by_arn(self, request: Request) -> Response:
        arn = request.query_params.get("Arn")
        if not arn:
            raise InvalidParameterValueException("Arn is required with find=LayerVersion")
        layer, number = parse_layer_version_arn(arn, region=self.region)
        return JSONResponse(self._layer_aws(self.layers.get(layer, number)))


def layer_routes(api: LayerApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    layers = "/2018-10-31/layers"
    version = layers + "/{layer}/versions/{number}"
    return [
        Route(layers, guard(api.list_layers), methods=["GET"]),
        Route(layers + "/{layer}/versions", guard(api.publish_layer_version), methods=["POST"]),
        Route(layers + "/{layer}/versions", guard(api.list_layer_versions), methods=["GET"]),
        Route(version, guard(api.get_layer_version), methods=["GET"]),
        Route(version, guard(api.delete_layer_version), methods=["DELETE"]),
    ]
