"""EventInvokeConfig per function and qualifier, stored in the registry (kind "event-invoke", id
"<function>/<qualifier>", $LATEST named), and what applies to one asynchronous invoke.

Nothing is cached: `settings()` reads one document per event, so a function's, version's or
alias's deletion (which deletes its documents in the registry's transaction) needs no hook here.
"""

from __future__ import annotations

import functools
import time
from typing import Any, Final

import trio

from engine.control.functions import FunctionService
from engine.errors import InvalidParameterValueException, ResourceNotFoundException
from engine.model.arns import function_arn
from engine.model.event_invoke import (
    AsyncSettings,
    EventInvokeConfig,
    EventInvokeConfigRequest,
    LambdaDestination,
    check_destinations,
    invalid_destination,
)
from engine.model.function import LATEST
from engine.registry.store import EVENT_INVOKE_KIND

MSG_NO_FUNCTION: Final = "The function doesn't exist."


class EventInvokeConfigService:
    def __init__(self, functions: FunctionService, *, region: str) -> None:
        self.functions = functions
        self.registry = functions.registry
        self.region = region
        self._lock = trio.Lock()  # Update's read-modify-write

    # -- what the event queue asks ---------------------------------------------------------

    def settings(self, name: str, qualifier: str | None) -> AsyncSettings:
        """The config of exactly the qualifier invoked (alias, version, or $LATEST when None);
        AWS's defaults when it has none."""
        config = self._find(name, qualifier)
        return AsyncSettings() if config is None else config.settings()

    # -- the API ---------------------------------------------------------------------------

    def function_arn(self, name: str, qualifier: str | None) -> str:
        """Always qualified, as AWS shows a config's FunctionArn."""
        return function_arn(self.region, name, qualifier or LATEST)

    def to_aws(self, name: str, qualifier: str | None, config: EventInvokeConfig) -> dict[str, Any]:
        return config.to_aws(self.function_arn(name, qualifier))

    def get(self, name: str, qualifier: str | None) -> EventInvokeConfig:
        """Get and Delete name the qualified ARN for a missing function and a missing config
        alike, as AWS does."""
        config = self._find(name, qualifier)
        if config is None:
            arn = self.function_arn(name, qualifier)
            raise ResourceNotFoundException(f"The function {arn} doesn't have an EventInvokeConfig")
        return config

    def list(self, name: str) -> list[tuple[str, EventInvokeConfig]]:
        """(qualifier, config) pairs: $LATEST, then versions in number order, then aliases."""
        self._check_target(name, None)
        docs = self.registry.documents(EVENT_INVOKE_KIND, prefix=name)
        found = [(str(d["qualifier"]), EventInvokeConfig.from_doc(d)) for d in docs]
        return sorted(found, key=lambda item: paging_key(item[0]))

    async def put(
        self, name: str, qualifier: str | None, req: EventInvokeConfigRequest
    ) -> EventInvokeConfig:
        self._check_target(name, qualifier)
        self._check_destinations(name, req)
        config = req.overwrite(now=time.time())
        await self._save(name, qualifier, config)
        return config

    async def update(
        self, name: str, qualifier: str | None, req: EventInvokeConfigRequest
    ) -> EventInvokeConfig:
        self._check_target(name, qualifier)
        async with self._lock:
            current = self.get(name, qualifier)
            self._check_destinations(name, req)
            config = req.merge(current, now=time.time())
            await self._save(name, qualifier, config)
        return config

    async def delete(self, name: str, qualifier: str | None) -> None:
        self.get(name, qualifier)
        await trio.to_thread.run_sync(
            functools.partial(
                self.registry.delete_document, EVENT_INVOKE_KIND, _key(name, qualifier)
            )
        )

    # -- helpers ---------------------------------------------------------------------------

    def _find(self, name: str, qualifier: str | None) -> EventInvokeConfig | None:
        doc = self.registry.get_document(EVENT_INVOKE_KIND, _key(name, qualifier))
        return None if doc is None else EventInvokeConfig.from_doc(doc)

    def _check_target(self, name: str, qualifier: str | None) -> None:
        """The function (and its version or alias) exist; AWS says the same of either."""
        try:
            self.functions.check_qualifier(name, qualifier)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(MSG_NO_FUNCTION) from None

    def _check_destinations(self, name: str, req: EventInvokeConfigRequest) -> None:
        for target in check_destinations(req, region=self.region, function_name=name):
            self._check_lambda_destination(target)

    def _check_lambda_destination(self, target: LambdaDestination) -> None:
        try:
            self.functions.check_qualifier(target.name, target.qualifier)
        except (ResourceNotFoundException, InvalidParameterValueException):
            raise invalid_destination(target.arn) from None

    async def _save(self, name: str, qualifier: str | None, config: EventInvokeConfig) -> None:
        q = qualifier or LATEST
        await trio.to_thread.run_sync(
            functools.partial(
                self.registry.put_function_document,
                EVENT_INVOKE_KIND,
                name,
                q,
                config.to_doc(q),
            )
        )


def paging_key(qualifier: str) -> str:
    """Orders $LATEST, then versions by number, then aliases by name (keys compare as text)."""
    if qualifier == LATEST:
        return "0"
    if qualifier.isdigit():
        return f"1{int(qualifier):012d}"
    return f"2{qualifier}"


def _key(name: str, qualifier: str | None) -> str:
    return f"{name}/{qualifier or LATEST}"
