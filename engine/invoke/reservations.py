"""Reserved concurrency as a service: PutFunctionConcurrency's rules, the reservation stored in
the registry (kind "concurrency", id "<function>") and applied to the live accounting.

`engine.invoke.concurrency` counts in-flight invokes (pure); this module is what changes its
reservations, durably, and reloads them at start-up.
"""

from __future__ import annotations

import functools
from typing import Final

import trio

from engine.control.functions import FunctionService
from engine.errors import InvalidParameterValueException
from engine.invoke.concurrency import Concurrency
from engine.invoke.provisioned import Provisioner

KIND: Final = "concurrency"


class Reservations:
    def __init__(
        self, functions: FunctionService, concurrency: Concurrency, provisioner: Provisioner
    ) -> None:
        self.functions = functions
        self.registry = functions.registry
        self.concurrency = concurrency
        self.provisioner = provisioner
        for doc in self.registry.documents(KIND):
            concurrency.set_reserved(doc["name"], int(doc["reserved"]))

    def get(self, name: str) -> int | None:
        """GetFunctionConcurrency: the function's reservation (None: it has none)."""
        self.functions.get(name)
        return self.concurrency.reserved.get(name)

    async def put(self, name: str, value: int) -> None:
        """PutFunctionConcurrency: the unreserved pool keeps its minimum, and the reservation
        covers the function's provisioned concurrency."""
        self.functions.latest(name)
        self.concurrency.check_reservation(name, value)
        provisioned = self.provisioner.total_for(name)
        if provisioned > value:
            raise InvalidParameterValueException(
                f" ReservedConcurrentExecutions  {value} should not be lower than function's "
                f"total provisioned concurrency [{provisioned}].",
                with_type=False,
            )
        doc = {"name": name, "reserved": value}
        await trio.to_thread.run_sync(
            functools.partial(self.registry.put_function_document, KIND, name, None, doc)
        )
        self.concurrency.set_reserved(name, value)

    async def delete(self, name: str) -> None:
        self.functions.get(name)
        await trio.to_thread.run_sync(functools.partial(self.registry.delete_document, KIND, name))
        self.concurrency.set_reserved(name, None)
