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
from datetime import UTC, datetime
from typing import Any, Final

import trio

from engine.control.functions import FunctionService
from engine.errors import (
    EngineError,
    InvalidParameterValueException,
    ProvisionedConcurrencyConfigNotFoundException,
    ResourceNotFoundException,
)
from engine.invoke.concurrency import Concurrency
from engine.invoke.pool import Pool
from engine.model.arns import function_arn
from engine.model.function import LATEST
from engine.model.timestamps import format_last_modified
from engine.runtime.environment import PlatformError

logger = logging.getLogger(__name__)

RETRY_S: Final = 5.0
KIND: Final = "provisioned"
MSG_NOT_FOUND: Final = "No Provisioned Concurrency Config found for this function"

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
        for doc in self.registry.documents(KIND):
            owner = (doc["name"], doc["qualifier"])
            self.requested[owner] = int(doc["requested"])
            self.modified[owner] = doc["last_modified"]

    # -- the API's side -------------------------------------------------------------------

    def check_owner(self, name: str, qualifier: str | None) -> str:
        if qualifier is None or qualifier == LATEST:
            raise InvalidParameterValueException(
                "Provisioned Concurrency Configs cannot be applied to unpublished function "
                "versions."
            )
        self.functions.check_qualifier(name, qualifier)
        return qualifier

    async def put(self, name: str, qualifier: str, requested: int) -> dict[str, Any]:
        """PutProvisionedConcurrencyConfig (`qualifier` checked by `check_owner`): the
        function's provisioned total stays within its reservation, or within what the
        account's unreserved pool can give."""
        owner = (name, qualifier)
        self._check_limits(owner, requested)
        now = format_last_modified(datetime.now(UTC))
        doc = {"name": name, "qualifier": qualifier, "requested": requested, "last_modified": now}
        await trio.to_thread.run_sync(
            functools.partial(self.registry.put_function_document, KIND, name, qualifier, doc)
        )
        self.requested[owner] = requested
        self.modified[owner] = now
        self.failures.pop(owner, None)
        self.wake()
        return self.describe(owner)

    async def delete(self, name: str, qualifier: str) -> None:
        owner = (name, qualifier)
        if owner not in self.requested:
            raise ProvisionedConcurrencyConfigNotFoundException(MSG_NOT_FOUND)
        await trio.to_thread.run_sync(
            functools.partial(self.registry.delete_document, KIND, f"{name}/{qualifier}")
        )
        self._forget(owner)

    def _check_limits(self, owner: Owner, requested: int) -> None:
        name = owner[0]
        others = self.total_for(name) - self.requested.get(owner, 0)
        reserved = self.concurrency.reserved.get(name)
        if reserved is not None and others + requested > reserved:
            raise InvalidParameterValueException(
                f"Requested Provisioned Concurrency ({others + requested}) should not be greater "
                f"than the reservedConcurrentExecution for function ({reserved})."
            )
        if reserved is None and others + requested > self.concurrency.unreserved - (
            self.concurrency.unreserved_minimum
        ):
            raise InvalidParameterValueException(
                "Specified ConcurrentExecutions for function is greater than account's "
                "unreserved concurrency minus its minimum."
            )

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
        out: dict[str, Any] = {
            "RequestedProvisionedConcurrentExecutions": requested,
            "AvailableProvisionedConcurrentExecutions": allocated,
            "AllocatedProvisionedConcurrentExecutions": allocated,
            "Status": "READY" if allocated >= requested else "IN_PROGRESS",
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
        self.pool.unprovision(owner, keep=self.requested[owner], version=config.version)
        while (
            owner in self.requested and self.pool.provisioned_count(owner) < self.requested[owner]
        ):
            try:
                await self.pool.provision(config, owner)
            except (PlatformError, EngineError, OSError) as exc:
                self.failures[owner] = f"could not initialise an environment: {exc}"
                logger.error("provisioned concurrency for %s:%s: %s", name, qualifier, exc)
                return
            self.failures.pop(owner, None)
