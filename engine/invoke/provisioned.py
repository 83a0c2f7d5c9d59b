"""Provisioned concurrency: keep N initialised environments per version or alias.

The configurations live in the registry (kind "provisioned", id "<function>/<qualifier>");
`Provisioner.run` reconciles the pool with them until cancelled: it makes missing
environments one at a time, destroys surplus ones and those of a version an alias no longer
points at, and replaces any that die. Status is IN_PROGRESS until every requested
environment is initialised (READY), FAILED with a reason when making one fails (retried).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import trio

from engine.control.functions import FunctionService
from engine.errors import (
    EngineError,
    InvalidParameterValueException,
    ProvisionedConcurrencyConfigNotFoundException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from engine.invoke.concurrency import Concurrency
from engine.invoke.pool import InitFailed, Pool
from engine.model.arns import function_arn
from engine.model.function import LATEST, FunctionConfig
from engine.model.timestamps import format_last_modified
from engine.runtime.environment import PlatformError

logger = logging.getLogger(__name__)

RETRY_S: Final = 5.0
KIND: Final = "provisioned"
MSG_NOT_FOUND: Final = "No Provisioned Concurrency Config found for this function"
INIT_FAILURE: Final = "FUNCTION_ERROR_INIT_FAILURE"  # StatusReason when the function's init fails

Owner = tuple[str, str]  # (function name, qualifier)


class Provisioner:
    def __init__(
        self, functions: FunctionService, pool: Pool, concurrency: Concurrency, *, region: str
    ) -> None:
        self.functions = functions
        self.registry = functions.registry
        self.pool = pool
        self.concurrency = concurrency
        self.region = region
        self.requested: dict[Owner, int] = {}
        self.modified: dict[Owner, str] = {}
        self.failures: dict[Owner, str] = {}
        self._wake = trio.Event()
        # Called after the configured amounts change (a put, a delete, a function or version
        # gone): the usage ledger bills provisioned concurrency by `configured()` over time.
        self.on_change: list[Callable[[], None]] = []
        for doc in self.registry.documents(KIND):
            owner = (doc["name"], doc["qualifier"])
            self.requested[owner] = int(doc["requested"])
            self.modified[owner] = doc["last_modified"]
        self._publish()

    # -- the API's side -------------------------------------------------------------------

    def check_owner(self, name: str, qualifier: str | None, *, operation: str) -> str:
        """The version or alias a config belongs to (never $LATEST), in AWS's words when it is
        not there."""
        if qualifier is None or qualifier == LATEST:
            if operation == "PutProvisionedConcurrencyConfig":
                raise InvalidParameterValueException(
                    "Provisioned Concurrency Configs cannot be applied to unpublished function "
                    "versions."
                )
            raise InvalidParameterValueException(
                "The function resource provided must be an alias or a published version."
            )
        try:
            self.functions.check_qualifier(name, qualifier)
        except ResourceNotFoundException:
            arn = function_arn(self.region, name, qualifier)
            if qualifier.isdigit():
                raise ResourceNotFoundException(f"Function not found: {arn}") from None
            raise ResourceNotFoundException(f"Cannot find alias arn: {arn}") from None
        return qualifier

    async def put(self, name: str, qualifier: str, requested: int) -> dict[str, Any]:
        """PutProvisionedConcurrencyConfig (`qualifier` checked by `check_owner`): the
        function's provisioned total stays within its reservation, or within what the
        account's unreserved pool can give."""
        owner = (name, qualifier)
        self._check_limits(owner, requested)
        self._check_overlap(owner)
        now = format_last_modified(datetime.now(UTC))
        doc = {"name": name, "qualifier": qualifier, "requested": requested, "last_modified": now}
        await trio.to_thread.run_sync(
            functools.partial(self.registry.put_function_document, KIND, name, qualifier, doc)
        )
        self.requested[owner] = requested
        self.modified[owner] = now
        self.failures.pop(owner, None)
        self._publish()
        self.wake()
        return self.describe(owner)

    async def delete(self, name: str, qualifier: str) -> None:
        """Idempotent, as on AWS: a version or alias without a config has nothing to delete."""
        owner = (name, qualifier)
        if owner not in self.requested:
            return
        await trio.to_thread.run_sync(
            functools.partial(self.registry.delete_document, KIND, f"{name}/{qualifier}")
        )
        self._forget(owner)

    def _check_limits(self, owner: Owner, requested: int) -> None:
        name = owner[0]
        total = self.total_for(name) - self.requested.get(owner, 0) + requested
        reserved = self.concurrency.reserved.get(name)
        if reserved is not None:
            if total > reserved:
                raise InvalidParameterValueException(
                    "Requested Provisioned Concurrency should not be greater than the "
                    "reservedConcurrentExecution for function"
                )
            return
        unreserved = self.concurrency.unreserved
        if total > unreserved:
            raise InvalidParameterValueException(
                "Specified ConcurrentExecutions for function is greater than account's "
                f"unreserved concurrency [{unreserved}].",
                with_type=False,
            )
        minimum = self.concurrency.unreserved_minimum
        if unreserved - total < minimum:
            raise InvalidParameterValueException(
                "Specified ConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of [{minimum}].",
                with_type=False,
            )

    def _check_overlap(self, owner: Owner) -> None:
        """A version has provisioned concurrency of its own or through one alias, not both."""
        name, qualifier = owner
        version = self.functions.configuration(name, qualifier).version
        for other in self.owners(name):
            if other == owner:
                continue
            other_version = self._version_of(other)
            if other_version != version:
                continue
            if qualifier.isdigit():
                raise ResourceConflictException(
                    "Version is pointed by a Provisioned Concurrency alias"
                )
            raise ResourceConflictException(
                "Alias can't be used for Provisioned Concurrency configuration on an already "
                "Provisioned version"
            )

    def _version_of(self, owner: Owner) -> str | None:
        config = self._configuration(*owner)
        return None if config is None else config.version

    def _publish(self) -> None:
        """Tell the accounting which qualifiers have provisioned concurrency, and how much."""
        totals: dict[str, int] = {}
        for (name, _), n in self.requested.items():
            totals[name] = totals.get(name, 0) + n
        self.concurrency.set_provisioned(set(self.requested), totals)
        for hook in self.on_change:
            hook()

    def configured(self) -> list[tuple[FunctionConfig, str, int]]:
        """Each config as Lambda bills it: the configuration of the version it serves (an
        alias: the version it points at), its qualifier and the requested amount."""
        out = []
        for (name, qualifier), requested in self.requested.items():
            version = self._configuration(name, qualifier)
            if version is not None:
                out.append((version, qualifier, requested))
        return out

    def _configuration(self, name: str, qualifier: str) -> FunctionConfig | None:
        try:
            return self.functions.configuration(name, qualifier)
        except ResourceNotFoundException:
            return None

    def forget_function(self, name: str, qualifier: str | None = None) -> None:
        """The function (or one version or alias of it) is gone: so are its environments."""
        for owner in [o for o in self.requested if o[0] == name]:
            if qualifier is None or owner[1] == qualifier:
                self._forget(owner)

    def describe(self, owner: Owner) -> dict[str, Any]:
        if owner not in self.requested:
            raise ProvisionedConcurrencyConfigNotFoundException(MSG_NOT_FOUND)
        requested = self.requested[owner]
        allocated = min(self.pool.provisioned_count(owner), requested)
        # An alias that moved is IN_PROGRESS until its new version's environments are up
        # (its old ones still count as allocated meanwhile, as on AWS).
        ready = self.pool.provisioned_count(owner, self._version_of(owner)) >= requested
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": requested,
            "AvailableProvisionedConcurrentExecutions": allocated,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "Status": "READY" if ready else "IN_PROGRESS",
            "LastModified": self.modified[owner],
        }
        if owner in self.failures and allocated < requested:
            out["Status"] = "FAILED"
            out["StatusReason"] = self.failures[owner]
        return out

    def list_item(self, owner: Owner) -> dict[str, Any]:
        return {"FunctionArn": function_arn(self.region, *owner), **self.describe(owner)}

    def owners(self, name: str) -> list[Owner]:
        return sorted(o for o in self.requested if o[0] == name)

    def total_for(self, name: str) -> int:
        return sum(n for (fn, _), n in self.requested.items() if fn == name)

    def wake(self) -> None:
        self._wake.set()

    def _forget(self, owner: Owner) -> None:
        self.requested.pop(owner, None)
        self.modified.pop(owner, None)
        self.failures.pop(owner, None)
        self.pool.unprovision(owner)
        self._publish()

    # -- the reconciler -------------------------------------------------------------------

    async def run(self) -> None:
        """Reconcile until cancelled: on every change, on every lost environment, and
        every few seconds while something failed."""
        while True:
            self._wake = trio.Event()
            lost = self.pool.provisioned_changed
            for owner in list(self.requested):
                await self._reconcile(owner)
            with trio.move_on_after(RETRY_S if self.failures else 3600):
                async with trio.open_nursery() as nursery:

                    async def wait(event: trio.Event) -> None:
                        await event.wait()
                        nursery.cancel_scope.cancel()

                    nursery.start_soon(wait, self._wake)
                    nursery.start_soon(wait, lost)

    async def _reconcile(self, owner: Owner) -> None:
        name, qualifier = owner
        try:
            config = self.functions.configuration(name, qualifier)
        except ResourceNotFoundException:
            self._forget(owner)  # its version or alias was deleted
            return
        version = config.version
        # An old version's environments (an alias that moved) keep serving until the new
        # version's are up, as AWS moves them; then they and any surplus go.
        while (
            owner in self.requested
            and self.pool.provisioned_count(owner, version) < self.requested[owner]
        ):
            try:
                await self.pool.provision(config, owner)
            except InitFailed:
                self.failures[owner] = INIT_FAILURE
                logger.error("provisioned concurrency for %s:%s: init failed", name, qualifier)
                return
            except (PlatformError, EngineError, OSError) as exc:
                self.failures[owner] = f"could not initialise an environment: {exc}"
                logger.error("provisioned concurrency for %s:%s: %s", name, qualifier, exc)
                return
            self.failures.pop(owner, None)
        if owner in self.requested:
            self.pool.unprovision(owner, keep=self.requested[owner], version=version)
