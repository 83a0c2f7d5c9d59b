"""The async-invocation counters Lambda publishes as metrics, account-wide here (for
``GET /lambdalet/v1/async-events``) and per function through an optional `AsyncObserver` (the
Prometheus metrics, daemon-wired).

AsyncEventsReceived: events accepted (stored) · AsyncEventAge: time from acceptance to each
attempt · AsyncEventsDropped: events that ended without the function succeeding, by reason
(after delivery to the failure targets) · DeadLetterErrors / DestinationDeliveryFailures:
failed sends. lambdalet adds the events that succeeded, those whose attempt was interrupted
by a daemon restart and re-run (the duplicates at-least-once delivery allows) and the backlog.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

from engine.events.policy import SUCCESS

DESTINATION: Final = "destination"  # what a failed delivery was for
DEAD_LETTER: Final = "dead-letter"


class AsyncObserver(Protocol):
    """Per-function async counters: `qualifier` is the one the event was sent to (None for
    none); `condition` is `events.policy`'s (Success, RetriesExhausted, ...)."""

    def received(self, function: str, qualifier: str | None) -> None: ...
    def attempted(self, function: str, qualifier: str | None, age_s: float) -> None: ...
    def ended(self, function: str, qualifier: str | None, condition: str) -> None: ...
    def delivery_failed(self, function: str, qualifier: str | None, target: str) -> None: ...


@dataclass(slots=True)
class AsyncCounters:
    received: int = 0
    succeeded: int = 0
    dropped: collections.Counter[str] = field(default_factory=collections.Counter)
    dead_letter_errors: int = 0
    destination_delivery_failures: int = 0
    redelivered: int = 0
    age_count: int = 0
    age_sum_ms: int = 0
    age_max_ms: int = 0
    observer: AsyncObserver | None = None

    def count_received(self, function: str, qualifier: str | None) -> None:
        self.received += 1
        if self.observer is not None:
            self.observer.received(function, qualifier)

    def observe_age(self, age_ms: int, function: str, qualifier: str | None) -> None:
        """An attempt of an event `age_ms` old starts."""
        self.age_count += 1
        self.age_sum_ms += age_ms
        self.age_max_ms = max(self.age_max_ms, age_ms)
        if self.observer is not None:
            self.observer.attempted(function, qualifier, age_ms / 1000)

    def count_end(self, function: str, qualifier: str | None, condition: str) -> None:
        """An event ended: `SUCCESS`, or dropped for `condition`."""
        if condition == SUCCESS:
            self.succeeded += 1
        else:
            self.dropped[condition] += 1
        if self.observer is not None:
            self.observer.ended(function, qualifier, condition)

    def count_delivery_failure(self, function: str, qualifier: str | None, target: str) -> None:
        """A send to a `DESTINATION` or a `DEAD_LETTER` queue failed."""
        if target == DEAD_LETTER:
            self.dead_letter_errors += 1
        else:
            self.destination_delivery_failures += 1
        if self.observer is not None:
            self.observer.delivery_failed(function, qualifier, target)

    def as_json(self, *, backlog: int, in_flight: int) -> dict[str, Any]:
        return {
            "AsyncEventsReceived": self.received,
            "AsyncEventsSucceeded": self.succeeded,
            "AsyncEventsDropped": sum(self.dropped.values()),
            "AsyncEventsDroppedByReason": dict(self.dropped),
            "DeadLetterErrors": self.dead_letter_errors,
            "DestinationDeliveryFailures": self.destination_delivery_failures,
            "AsyncEventsRedelivered": self.redelivered,
            "AsyncEventAge": {
                "Count": self.age_count,
                "SumMs": self.age_sum_ms,
                "MaxMs": self.age_max_ms,
            },
            "Backlog": backlog,
            "InFlight": in_flight,
        }
