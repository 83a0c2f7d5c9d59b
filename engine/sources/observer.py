"""What the pollers tell about their batches: Lambda's event source mapping metrics (events
polled, filtered out, invoked, failed, deleted, dropped; a stream's iterator age), reported to
an observer the daemon wires (the Prometheus metrics), or to nobody.

Counts are of records (messages), as Lambda's PolledEventCount and its siblings are: `POLLED`
as read from the source, `FILTERED` matched no filter, `INVOKED` were in an invocation the
function ran, `FAILED` were in one that failed (or were named as batch item failures),
`DELETED` were deleted from their queue after success, `DROPPED` were given up (a stream's
records past their retries or age).
"""

from __future__ import annotations

from typing import Final, Protocol

POLLED: Final = "polled"
FILTERED: Final = "filtered"
INVOKED: Final = "invoked"
FAILED: Final = "failed"
DELETED: Final = "deleted"
DROPPED: Final = "dropped"
OUTCOMES: Final = (POLLED, FILTERED, INVOKED, FAILED, DELETED, DROPPED)


class SourceObserver(Protocol):
    def events(self, uuid: str, function: str, outcome: str, count: int) -> None:
        """`count` records of mapping `uuid` (of `function`) had `outcome`."""

    def iterator_age(self, uuid: str, function: str, age_s: float) -> None:
        """A stream batch went to the function `age_s` after its last record arrived."""

    def forget(self, uuid: str) -> None:
        """The mapping is deleted."""


class NoObserver:
    def events(self, uuid: str, function: str, outcome: str, count: int) -> None:
        pass

    def iterator_age(self, uuid: str, function: str, age_s: float) -> None:
        pass

    def forget(self, uuid: str) -> None:
        pass


NO_OBSERVER: Final = NoObserver()
