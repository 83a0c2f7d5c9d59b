"""Resource-based policies of functions, versions and aliases (AddPermission, RemovePermission,
GetPolicy), stored in the registry (kind "policy", id "<function>" or "<function>/<qualifier>").

lambdalet keeps and returns policies; it does not evaluate them (`engine.model.policies`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import trio

from engine.control.functions import FunctionService
from engine.errors import InvalidParameterValueException, ResourceNotFoundException
from engine.model.arns import function_arn
from engine.model.function import LATEST
from engine.model.policies import (
    MSG_NO_POLICY,
    MSG_POLICY_NOT_FOUND,
    Policy,
    parse_add_permission,
)

KIND = "policy"


class PolicyService:
    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions
        self.registry = functions.registry
        self._limiter = trio.CapacityLimiter(2)

    def check_target(self, name: str, qualifier: str | None, *, operation: str) -> None:
        """A policy belongs to a function, a published version or an alias, never $LATEST.
        What is missing is worded as AWS words it for each operation."""
        if qualifier == LATEST:
            raise InvalidParameterValueException(
                "We currently do not support adding policies for $LATEST."
            )
        try:
            self.functions.check_qualifier(name, qualifier)
        except ResourceNotFoundException:
            raise self._missing(name, qualifier, operation) from None

    def _missing(
        self, name: str, qualifier: str | None, operation: str
    ) -> ResourceNotFoundException:
        arn = function_arn(self.functions.region, name, qualifier)
        if operation == "GetPolicy":
            return ResourceNotFoundException(MSG_POLICY_NOT_FOUND)
        try:
            self.functions.get(name)
        except ResourceNotFoundException:
            if operation == "RemovePermission":
                return ResourceNotFoundException(f"No policy found for: {arn}")
            return ResourceNotFoundException(f"Function not found: {arn}")
        # The function is there: a name that can only be an alias's is a missing alias.
        if qualifier is not None and not qualifier.isdigit() and "$" not in qualifier:
            return ResourceNotFoundException(f"Cannot find alias arn: {arn}")
        return ResourceNotFoundException(f"Function not found: {arn}")

    def revision(self, name: str, qualifier: str | None) -> str:
        """A policy's RevisionId is its target's (the function's, version's or alias's), as on
        AWS, so a RevisionId from GetFunction or GetAlias guards AddPermission too."""
        if qualifier is None:
            return self.functions.get(name).revision_id
        if qualifier.isdigit():
            return self.functions.get_version(name, qualifier).revision_id
        return self.functions.get_alias(name, qualifier).revision_id

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
        policy = self._load(name, qualifier)
        if not policy.statements:
            raise ResourceNotFoundException(MSG_NO_POLICY)
        policy = policy.remove(sid, revision_id=revision_id)
        await self._save(name, qualifier, policy)

    def _load(self, name: str, qualifier: str | None) -> Policy:
        key = name if qualifier is None else f"{name}/{qualifier}"
        policy = Policy.from_doc(self.registry.get_document(KIND, key))
        return dataclasses.replace(policy, revision_id=self.revision(name, qualifier))

    async def _save(self, name: str, qualifier: str | None, policy: Policy) -> None:
        await trio.to_thread.run_sync(
            functools.partial(
                self.registry.put_function_document, KIND, name, qualifier, policy.to_doc()
            ),
            limiter=self._limiter,
        )
