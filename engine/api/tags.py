"""Lambda API handlers for tags, on functions and event source mappings.

POST|DELETE|GET   /2017-03-31/tags/{arn}      TagResource / UntagResource (?tagKeys=) / ListTags
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler
from engine.control.tags import TagService
from engine.errors import InvalidParameterValueException, ResourceNotFoundException
from engine.model.arns import ACCOUNT_ID
from engine.model.tags import parse_tags

# A taggable resource's ARN (the model's pattern has checked it): its kind and the rest.
_TAGGABLE_RE: Final = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<kind>[a-z-]+):(?P<name>[a-zA-Z0-9-_]+)(?::(?P<qualifier>[a-zA-Z0-9$_-]+))?"
)
# Resources lambdalet does not have (yet), as AWS says one is not there.
_NOT_FOUND: Final = {
    "event-source-mapping": "Event source mapping not found: {arn}",
    "capacity-provider": "Capacity provider not found: {arn}",
}
MAPPING: Final = "event-source-mapping"
MSG_EMPTY_TAGS: Final = "An error occurred and the request cannot be processed."


class TagApi:
    def __init__(self, tags: TagService, *, region: str) -> None:
        self.tags = tags
        self.region = region

    def _mapping_tags(self, request: Request) -> tuple[str, dict[str, str]] | None:
        """The event source mapping the path's ARN names and its tags; None for another
        kind of resource."""
        arn = unquote(request.path_params["arn"])
        match = _TAGGABLE_RE.fullmatch(arn)
        if match is None or match["kind"] != MAPPING or match["qualifier"] is not None:
            return None
        ours = match["region"] == self.region and match["account"] == ACCOUNT_ID
        tags = self.tags.mapping_tags(match["name"]) if ours else None
        if tags is None:
            raise ResourceNotFoundException(_NOT_FOUND[MAPPING].format(arn=arn))
        return match["name"], tags

    def _tagged_function(self, request: Request) -> str:
        """The function the path's ARN names (which must exist)."""
        arn = unquote(request.path_params["arn"])
        match = _TAGGABLE_RE.fullmatch(arn)
        if match is None:
            raise InvalidParameterValueException(f"Invalid resource ARN for tagging: {arn}")
        if match["kind"] != "function":
            text = _NOT_FOUND.get(match["kind"], "The resource you requested does not exist.")
            raise ResourceNotFoundException(text.format(arn=arn))
        if match["qualifier"] is not None:
            raise InvalidParameterValueException(
                "Tags on function aliases and versions are not supported. Please specify a "
                "function ARN."
            )
        name = match["name"]
        if match["region"] != self.region or match["account"] != ACCOUNT_ID:
            raise ResourceNotFoundException(f"Function not found: {arn}")
        self.tags.functions.get(name)
        return name

    async def tag_resource(self, request: Request) -> Response:
        mapping = self._mapping_tags(request)
        name = None if mapping is not None else self._tagged_function(request)
        body = await read_json(request, "TagResource")
        tags = parse_tags(body.get("Tags") or {})
        if not tags:
            raise InvalidParameterValueException(MSG_EMPTY_TAGS)
        if mapping is not None:
            await self.tags.tag_mapping(*mapping, tags)
        elif name is not None:
            await self.tags.tag(name, tags)
        return Response(status_code=204)

    async def untag_resource(self, request: Request) -> Response:
        keys = request.query_params.getlist("tagKeys")  # required: checked by the model
        mapping = self._mapping_tags(request)
        if mapping is not None:
            await self.tags.untag_mapping(*mapping, keys)
        else:
            await self.tags.untag(self._tagged_function(request), keys)
        return Response(status_code=204)

    async def list_tags(self, request: Request) -> Response:
        mapping = self._mapping_tags(request)
        if mapping is not None:
            return JSONResponse({"Tags": mapping[1]})
        return JSONResponse({"Tags": self.tags.get(self._tagged_function(request))})


def tag_routes(api: TagApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    tags = "/2017-03-31/tags/{arn}"
    return [
        Route(tags, guard(api.tag_resource), methods=["POST"]),
        Route(tags, guard(api.untag_resource), methods=["DELETE"]),
        Route(tags, guard(api.list_tags), methods=["GET"]),
    ]
