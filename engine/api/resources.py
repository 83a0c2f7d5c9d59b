"""Lambda API handlers for aliases, layers, tags and resource policies.

/2015-03-31/functions/{name}/aliases[/{alias}]      Create/List/Get/Update/DeleteAlias
/2018-10-31/layers[?find=LayerVersion&Arn=]          ListLayers / GetLayerVersionByArn
/2018-10-31/layers/{layer}/versions[/{n}]            Publish/List/Get/DeleteLayerVersion
/2017-03-31/tags/{arn}                               TagResource/UntagResource/ListTags
/2015-03-31/functions/{name}/policy[/{sid}]          AddPermission/RemovePermission/GetPolicy
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final
from urllib.parse import unquote

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.common import Handler, function_name, paged, read_json, unqualified
from engine.control.functions import FunctionService
from engine.errors import InvalidParameterValueException, ResourceNotFoundException
from engine.model.aliases import parse_alias_name, parse_alias_request
from engine.model.arns import ACCOUNT_ID, function_arn, layer_arn
from engine.model.function import LATEST
from engine.model.layers import (
    LayerVersion,
    parse_layer_name,
    parse_layer_version_arn,
    parse_publish_layer_version,
)
from engine.model.policies import MSG_POLICY_NOT_FOUND, Policy, parse_add_permission
from engine.model.tags import parse_tags

_TAGGABLE_RE: Final = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]+)(?::(?P<qualifier>[a-zA-Z0-9$_-]+))?"
)


class ResourceApi:
    def __init__(self, functions: FunctionService, *, region: str) -> None:
        self.functions = functions
        self.registry = functions.registry
        self.region = region
        self._limiter = trio.CapacityLimiter(2)

    async def _thread(self, fn: Callable[[], Any]) -> Any:
        return await trio.to_thread.run_sync(fn, limiter=self._limiter)

    # -- aliases --------------------------------------------------------------------------

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
        alias = self.functions.get_alias(name, parse_alias_name(request.path_params["alias"]))
        return JSONResponse(alias.to_aws(self.region, name))

    async def update_alias(self, request: Request) -> Response:
        name = unqualified(request, "UpdateAlias")
        alias_name = parse_alias_name(request.path_params["alias"])
        req = parse_alias_request(await read_json(request, "UpdateAlias"), create=False)
        alias = await self.functions.update_alias(name, alias_name, req)
        return JSONResponse(alias.to_aws(self.region, name))

    async def delete_alias(self, request: Request) -> Response:
        name = unqualified(request, "DeleteAlias")
        await self.functions.delete_alias(name, parse_alias_name(request.path_params["alias"]))
        return Response(status_code=204)

    # -- layers ---------------------------------------------------------------------------

    def _layer_aws(self, layer: LayerVersion) -> dict[str, Any]:
        return layer.to_aws(self.region, location=self.registry.layer_zip(layer).as_uri())

    def _layer(self, request: Request) -> str:
        return parse_layer_name(unquote(request.path_params["layer"]), region=self.region)

    def _version_number(self, request: Request) -> int:
        raw = request.path_params["number"]
        if not raw.isdigit():
            raise InvalidParameterValueException(f"Invalid layer version number: {raw}")
        return int(raw)

    async def publish_layer_version(self, request: Request) -> Response:
        body = await read_json(request, "PublishLayerVersion")
        req = parse_publish_layer_version(
            unquote(request.path_params["layer"]), body, region=self.region
        )
        now = datetime.now(UTC)
        layer = await self._thread(
            functools.partial(self.registry.publish_layer_version, req, now=now)
        )
        return JSONResponse(self._layer_aws(layer), status_code=201)

    async def list_layer_versions(self, request: Request) -> Response:
        versions = _matching(self.registry.layer_versions(self._layer(request)), request)
        versions.reverse()  # newest first, as AWS lists them
        return paged(
            request,
            versions,
            field="LayerVersions",
            key=lambda v: f"{10**12 - v.version:012d}",  # newest first
            render=lambda v: v.list_item(self.region),
        )

    async def get_layer_version(self, request: Request) -> Response:
        layer = self.registry.get_layer_version(self._layer(request), self._version_number(request))
        return JSONResponse(self._layer_aws(layer))

    async def delete_layer_version(self, request: Request) -> Response:
        layer, number = self._layer(request), self._version_number(request)
        await self._thread(functools.partial(self.registry.delete_layer_version, layer, number))
        return Response(status_code=204)

    async def list_layers(self, request: Request) -> Response:
        if request.query_params.get("find") == "LayerVersion":
            return await self._get_layer_version_by_arn(request)
        latest: dict[str, LayerVersion] = {}
        for version in _matching(self.registry.layer_versions(), request):
            latest[version.layer] = version  # ordered by version: the last one wins
        return paged(
            request,
            sorted(latest.values(), key=lambda v: v.layer),
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
        return JSONResponse(self._layer_aws(self.registry.get_layer_version(layer, number)))

    # -- tags -----------------------------------------------------------------------------

    def _tagged_function(self, request: Request) -> str:
        arn = unquote(request.path_params["arn"])
        match = _TAGGABLE_RE.fullmatch(arn)
        if match is None:
            raise InvalidParameterValueException(f"Invalid resource ARN for tagging: {arn}")
        if match["qualifier"] is not None:
            raise InvalidParameterValueException(
                "Tags on function aliases and versions are not supported. Please specify a "
                "function ARN."
            )
        name = match["name"]
        if match["region"] != self.region or match["account"] != ACCOUNT_ID:
            raise ResourceNotFoundException(f"Function not found: {arn}")
        self.functions.get(name)
        return name

    async def tag_resource(self, request: Request) -> Response:
        name = self._tagged_function(request)
        body = await read_json(request, "TagResource")
        if "Tags" not in body:
            raise InvalidParameterValueException("Tags is required")
        tags = {**(self.registry.get_document("tags", name) or {}), **parse_tags(body["Tags"])}
        parse_tags(tags)  # the total stays within AWS's limit of 50
        await self._thread(
            functools.partial(self.registry.put_function_document, "tags", name, None, tags)
        )
        return Response(status_code=204)

    async def untag_resource(self, request: Request) -> Response:
        name = self._tagged_function(request)
        keys = request.query_params.getlist("tagKeys")
        if not keys:
            raise InvalidParameterValueException("tagKeys is required")
        tags = {
            k: v for k, v in (self.registry.get_document("tags", name) or {}).items()
            if k not in keys
        }  # fmt: skip
        await self._thread(
            functools.partial(self.registry.put_function_document, "tags", name, None, tags)
        )
        return Response(status_code=204)

    async def list_tags(self, request: Request) -> Response:
        name = self._tagged_function(request)
        return JSONResponse({"Tags": self.registry.get_document("tags", name) or {}})

    # -- resource policies ----------------------------------------------------------------

    def _policy_target(self, request: Request) -> tuple[str, str | None]:
        name, qualifier = function_name(request)
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "We currently do not support adding policies for $LATEST."
            )
        self.functions.check_qualifier(name, qualifier)
        return name, qualifier

    def _policy(self, name: str, qualifier: str | None) -> Policy:
        key = name if qualifier is None else f"{name}/{qualifier}"
        return Policy.from_doc(self.registry.get_document("policy", key))

    async def _save_policy(self, name: str, qualifier: str | None, policy: Policy) -> None:
        await self._thread(
            functools.partial(
                self.registry.put_function_document, "policy", name, qualifier, policy.to_doc()
            )
        )

    async def add_permission(self, request: Request) -> Response:
        name, qualifier = self._policy_target(request)
        body = await read_json(request, "AddPermission")
        statement = parse_add_permission(
            body, resource_arn=function_arn(self.region, name, qualifier)
        )
        revision = body.get("RevisionId")
        policy = self._policy(name, qualifier).add(
            statement, revision_id=revision if isinstance(revision, str) else None
        )
        await self._save_policy(name, qualifier, policy)
        text = json.dumps(statement, separators=(",", ":"))
        return JSONResponse({"Statement": text}, status_code=201)

    async def remove_permission(self, request: Request) -> Response:
        name, qualifier = self._policy_target(request)
        policy = self._policy(name, qualifier).remove(
            unquote(request.path_params["sid"]),
            revision_id=request.query_params.get("RevisionId"),
        )
        await self._save_policy(name, qualifier, policy)
        return Response(status_code=204)

    async def get_policy(self, request: Request) -> Response:
        name, qualifier = self._policy_target(request)
        policy = self._policy(name, qualifier)
        if not policy.statements:
            raise ResourceNotFoundException(MSG_POLICY_NOT_FOUND)
        return JSONResponse({"Policy": policy.document(), "RevisionId": policy.revision_id})


def _matching(versions: list[LayerVersion], request: Request) -> list[LayerVersion]:
    runtime = request.query_params.get("CompatibleRuntime")
    arch = request.query_params.get("CompatibleArchitecture")
    return [
        v
        for v in versions
        if (runtime is None or runtime in v.compatible_runtimes)
        and (arch is None or arch in v.compatible_architectures)
    ]


def resource_routes(api: ResourceApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    fn = "/2015-03-31/functions/{name}"
    layers = "/2018-10-31/layers"
    return [
        Route(fn + "/aliases", guard(api.create_alias), methods=["POST"]),
        Route(fn + "/aliases", guard(api.list_aliases), methods=["GET"]),
        Route(fn + "/aliases/{alias}", guard(api.get_alias), methods=["GET"]),
        Route(fn + "/aliases/{alias}", guard(api.update_alias), methods=["PUT"]),
        Route(fn + "/aliases/{alias}", guard(api.delete_alias), methods=["DELETE"]),
        Route(layers, guard(api.list_layers), methods=["GET"]),
        Route(layers + "/{layer}/versions", guard(api.publish_layer_version), methods=["POST"]),
        Route(layers + "/{layer}/versions", guard(api.list_layer_versions), methods=["GET"]),
        Route(layers + "/{layer}/versions/{number}", guard(api.get_layer_version), methods=["GET"]),
        Route(
            layers + "/{layer}/versions/{number}",
            guard(api.delete_layer_version),
            methods=["DELETE"],
        ),
        Route("/2017-03-31/tags/{arn}", guard(api.tag_resource), methods=["POST"]),
        Route("/2017-03-31/tags/{arn}", guard(api.untag_resource), methods=["DELETE"]),
        Route("/2017-03-31/tags/{arn}", guard(api.list_tags), methods=["GET"]),
        Route(fn + "/policy", guard(api.add_permission), methods=["POST"]),
        Route(fn + "/policy", guard(api.get_policy), methods=["GET"]),
        Route(fn + "/policy/{sid}", guard(api.remove_permission), methods=["DELETE"]),
    ]
