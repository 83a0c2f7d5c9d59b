"""Lambda API handlers for tags.

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

_TAGGABLE_RE: Final = re.compile(
    r"arn:aws[a-zA-Z-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]+)(?::(?P<qualifier>[a-zA-Z0-9$_-]+))?"
)


class TagApi:
    def __init__(self, tags: TagService, *, region: str) -> None:
        self.tags = tags
        self.region = region

    def _tagged_function(self, request: Request) -> str:
        """The function the path's ARN names (which must exist)."""
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
        self.tags.functions.get(name)
        return name

    async def tag_resource(self, request: Request) -> Response:
        name = self._tagged_function(request)
        body = await read_json(request, "TagResource")
        if "Tags" not in body:
            raise InvalidParameterValueException("Tags is required")
        await self.tags.tag(name, parse_tags(body["Tags"]))
        return Response(status_code=204)

    async def untag_resource(self, request: Request) -> Response:
        name = self._tagged_function(request)
        keys = request.query_params.getlist("tagKeys")
        if not keys:
            raise InvalidParameterValueException("tagKeys is required")
        await self.tags.untag(name, keys)
        return Response(status_code=204)

    async def list_tags(self, request: Request) -> Response:
        name = self._tagged_function(request)
        return JSONResponse({"Tags": self.tags.get(name)})


def tag_routes(api: TagApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    tags = "/2017-03-31/tags/{arn}"
    return [
        Route(tags, guard(api.tag_resource), methods=["POST"]),
        Route(tags, guard(api.untag_resource), methods=["DELETE"]),
        Route(tags, guard(api.list_tags), methods=["GET"]),
    ]
