"""The async-invocation counters Lambda publishes as metrics (the metrics work exposes them).

AsyncEventsReceived: events accepted (stored) · AsyncEventAge: time from acceptance to each
attempt · AsyncEventsDropped: events that ended without the function succeeding, by reason
(after delivery to the failure targets) · DeadLetterErrors / DestinationDeliveryFailures:
failed sends. lambdalet adds the events that succeeded, those whose attempt was interrupted
by a daemon restart and re-run (the duplicates at-least-once delivery allows) and the backlog.
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Any


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

    def observe_age(self, age_ms: int) -> None:
        self.age_count += 1
        self.age_sum_ms += age_ms
        self.age_max_ms = max(self.age_max_ms, age_ms)

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
