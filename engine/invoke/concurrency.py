"""Concurrency accounting: the account limit, reserved concurrency, and throttling.

Pure bookkeeping, as Lambda counts: every in-flight invocation holds one unit. A function
with reserved concurrency R runs at most R at once (R = 0 throttles every invoke) and those
R units are taken out of the account's pool; functions without a reservation share what is
left (`unreserved`). Over a limit, an invoke is refused with 429 TooManyRequestsException
and a `Reason` saying which limit.
"""

from __future__ import annotations

import collections
from typing import Final

from engine.errors import (
    ConfigError,
    InvalidParameterValueException,
    TooManyRequestsException,
)

REASON_RESERVED: Final = "ReservedFunctionConcurrentInvocationLimitExceeded"
REASON_ACCOUNT: Final = "ConcurrentInvocationLimitExceeded"
MSG_RATE_EXCEEDED: Final = "Rate Exceeded."


class Concurrency:
    def __init__(self, *, account_limit: int, unreserved_minimum: int) -> None:
        self.account_limit = account_limit
        self.unreserved_minimum = unreserved_minimum
        self.reserved: dict[str, int] = {}
        # Provisioned concurrency per function (its total) and the (function, qualifier) pairs
        # that have it: on-demand invokes of a reserved function get what the provisioned
        # environments leave of the reservation.
        self.provisioned: dict[str, int] = {}
        self.provisioned_owners: set[tuple[str, str]] = set()
        self.in_flight: collections.Counter[str] = collections.Counter()
        self._unreserved_in_flight = 0  # in-flight invokes of functions without reservation

    @property
    def unreserved(self) -> int:
        """UnreservedConcurrentExecutions: the account limit minus every reservation."""
        return self.account_limit - sum(self.reserved.values())

    def set_limits(self, *, account_limit: int, unreserved_minimum: int) -> None:
        """A reloaded configuration's limits; refused (ConfigError, nothing changed) when the
        functions' reservations would leave the unreserved pool below its new minimum.
        In-flight invokes keep their units; a lower limit throttles the next ones."""
        reserved = sum(self.reserved.values())
        if account_limit - reserved < unreserved_minimum:
            raise ConfigError(
                f"concurrency.account_limit {account_limit} less the functions' reserved "
                f"concurrency ({reserved}) would be below concurrency.unreserved_minimum "
                f"{unreserved_minimum}"
            )
        self.account_limit = account_limit
        self.unreserved_minimum = unreserved_minimum

    @property
    def unreserved_in_flight(self) -> int:
        """In-flight invokes of functions without a reservation (CloudWatch's metric
        UnreservedConcurrentExecutions; GetAccountSettings' field of that name is the pool)."""
        return self._unreserved_in_flight

    def check_reservation(self, name: str, value: int) -> None:
        """PutFunctionConcurrency's rule: the unreserved pool keeps its minimum."""
        others = sum(v for k, v in self.reserved.items() if k != name)
        if self.account_limit - others - value < self.unreserved_minimum:
            raise InvalidParameterValueException(
                f"Specified ReservedConcurrentExecutions for function decreases account's "
                f"UnreservedConcurrentExecution below its minimum value of "
                f"[{self.unreserved_minimum}].",
                with_type=False,
            )

    def set_reserved(self, name: str, value: int | None) -> None:
        """Record (or with None, remove) a reservation; in-flight invokes keep their slot."""
        was_reserved = name in self.reserved
        if value is None:
            self.reserved.pop(name, None)
        else:
            self.reserved[name] = value
        now_reserved = name in self.reserved
        if was_reserved != now_reserved:  # move its in-flight invokes between the pools
            delta = self.in_flight[name]
            self._unreserved_in_flight += -delta if now_reserved else delta

    def set_provisioned(self, owners: set[tuple[str, str]], totals: dict[str, int]) -> None:
        self.provisioned_owners = set(owners)
        self.provisioned = dict(totals)

    def acquire(self, name: str, *qualifiers: str) -> None:
        """Take a unit for one invocation of `name` (by any of `qualifiers`: the one named and
        the version it runs), or raise the 429 Lambda answers. An invoke of a qualifier
        without provisioned concurrency may use only what the function's provisioned
        concurrency leaves of its reservation."""
        reserved = self.reserved.get(name)
        if reserved is not None:
            if not any((name, q) in self.provisioned_owners for q in qualifiers):
                reserved -= self.provisioned.get(name, 0)
            if self.in_flight[name] >= reserved:
                raise TooManyRequestsException(MSG_RATE_EXCEEDED, reason=REASON_RESERVED)
        else:
            if self._unreserved_in_flight >= self.unreserved:
                raise TooManyRequestsException(MSG_RATE_EXCEEDED, reason=REASON_ACCOUNT)
            self._unreserved_in_flight += 1
        self.in_flight[name] += 1

    def release(self, name: str) -> None:
        self.in_flight[name] -= 1
        if self.in_flight[name] <= 0:
            del self.in_flight[name]
        if name not in self.reserved:
            self._unreserved_in_flight -= 1

    def forget(self, name: str, qualifier: str | None = None) -> None:
        """The function was deleted: drop its reservation (in-flight invokes still release).
        Shaped as a `FunctionService.on_delete` hook: a deleted version or alias changes
        nothing here."""
        if qualifier is None:
            self.set_reserved(name, None)
