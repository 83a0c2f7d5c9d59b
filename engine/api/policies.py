"""Lambda API handlers for resource-based policies.

POST|GET   /2015-03-31/functions/{name}/policy[?Qualifier=]        AddPermission / GetPolicy
DELETE     /2015-03-31/functions/{name}/policy/{sid}[?Qualifier=]  RemovePermission
"""

from __future__ import annotations

import json
from collections.abc import Callable
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler, function_name
from engine.control.policies import PolicyService


class PolicyApi:
    def __init__(self, policies: PolicyService) -> None:
        self.policies = policies

    def _target(self, request: Request, operation: str) -> tuple[str, str | None]:
        name, qualifier = function_name(request)
        self.policies.check_target(name, qualifier, operation=operation)
        return name, qualifier

    async def add_permission(self, request: Request) -> Response:
        name, qualifier = self._target(request, "AddPermission")
        body = await read_json(request, "AddPermission")
        revision = body.get("RevisionId")
        statement = await self.policies.add(
            name, qualifier, body, revision_id=revision if isinstance(revision, str) else None
        )
        text = json.dumps(statement, separators=(",", ":"))
        return JSONResponse({"Statement": text}, status_code=201)

    async def remove_permission(self, request: Request) -> Response:
        name, qualifier = self._target(request, "RemovePermission")
        await self.policies.remove(
            name,
            qualifier,
            unquote(request.path_params["sid"]),
            revision_id=request.query_params.get("RevisionId"),
        )
        return Response(status_code=204)

    async def get_policy(self, request: Request) -> Response:
        name, qualifier = self._target(request, "GetPolicy")
        policy = self.policies.get(name, qualifier)
        return JSONResponse({"Policy": policy.document(), "RevisionId": policy.revision_id})


def policy_routes(api: PolicyApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    policy = "/2015-03-31/functions/{name}/policy"
    return [
        Route(policy, guard(api.add_permission), methods=["POST"]),
        Route(policy, guard(api.get_policy), methods=["GET"]),
        Route(policy + "/{sid}", guard(api.remove_permission), methods=["DELETE"]),
    ]
