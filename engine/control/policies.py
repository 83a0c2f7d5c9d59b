"""Resource-based policies of functions, versions and aliases (AddPermission, RemovePermission,
GetPolicy), stored in the registry (kind "policy", id "<function>" or "<function>/<qualifier>").

lambdalet keeps and returns policies; it does not evaluate them (`engine.model.policies`).
"""

from __future__ import annotations

import functools
from typing import Any

import trio

from engine.control.functions import FunctionService
from engine.errors import InvalidParameterValueException, ResourceNotFoundException
from engine.model.arns import function_arn
from engine.model.function import LATEST
from engine.model.policies import MSG_POLICY_NOT_FOUND, Policy, parse_add_permission

KIND = "policy"


class PolicyService:
    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions
        self.registry = functions.registry
        self._limiter = trio.CapacityLimiter(2)

    def check_target(self, name: str, qualifier: str | None) -> None:
        """A policy belongs to a function, a published version or an alias, never $LATEST."""
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "We currently do not support adding policies for $LATEST."
            )
        self.functions.check_qualifier(name, qualifier)

    def get(self, name: str, qualifier: str | None) -> Policy:
        """GetPolicy: ResourceNotFoundException when the policy has no statement."""
        policy = self._load(name, qualifier)
        if not policy.statements:
            raise ResourceNotFoundException(MSG_POLICY_NOT_FOUND)
        return policy

    async def add(
        self, name: str, qualifier: str | None, body: dict[str, Any], *, revision_id: str | None
    ) -> dict[str, Any]:
        """AddPermission: the statement `body` asks for, added; returns the statement."""
        statement = parse_add_permission(
            body, resource_arn=function_arn(self.functions.region, name, qualifier)
        )
        policy = self._load(name, qualifier).add(statement, revision_id=revision_id)
        await self._save(name, qualifier, policy)
        return statement

    async def remove(
        self, name: str, qualifier: str | None, sid: str, *, revision_id: str | None
    ) -> None:
        policy = self._load(name, qualifier).remove(sid, revision_id=revision_id)
        await self._save(name, qualifier, policy)

    def _load(self, name: str, qualifier: str | None) -> Policy:
        key = name if qualifier is None else f"{name}/{qualifier}"
        return Policy.from_doc(self.registry.get_document(KIND, key))

    async def _save(self, name: str, qualifier: str | None, policy: Policy) -> None:
        await trio.to_thread.run_sync(
            functools.partial(
                self.registry.put_function_document, KIND, name, qualifier, policy.to_doc()
            ),
            limiter=self._limiter,
        )
