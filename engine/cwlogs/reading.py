"""GetLogEvents' and FilterLogEvents' reads over stream snapshots, as CloudWatch pages them.
Runs in a worker thread: it only reads files, through `engine.runtime.log_file`.

GetLogEvents walks one stream from a position (an event index): forward from its head, from
a start time or from a ``f/`` token, or back from its end, an end time or a ``b/`` token;
the events come back oldest first either way, with the positions for the next tokens. With
nothing new the tokens are the ones given, as CloudWatch's are. FilterLogEvents merges the
matching events of many streams by (timestamp, stream, index) and continues after the last
one it returned.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final, Protocol

from engine.runtime.log_file import Event, Snapshot, first_at_or_after, iter_events, read_events
from engine.runtime.log_format import EVENT_OVERHEAD

MAX_RESPONSE_BYTES: Final = 1_048_576  # a page holds at most 1 MB of events
_CHUNK: Final = 2048


@dataclass(frozen=True, slots=True, kw_only=True)
class Window:
    """The times a read may return: [low, high) for GetLogEvents, [low, high] for Filter."""

    low: int | None = None
    high: int | None = None
    high_inclusive: bool = False

    def before(self, timestamp: int) -> bool:
        return self.low is not None and timestamp < self.low

    def after(self, timestamp: int) -> bool:
        if self.high is None:
            return False
        return timestamp > self.high if self.high_inclusive else timestamp >= self.high

    def holds(self, timestamp: int) -> bool:
        return not self.before(timestamp) and not self.after(timestamp)


@dataclass(frozen=True, slots=True)
class Page:
    events: list[Event]
    forward: int  # where nextForwardToken reads on from
    backward: int  # where nextBackwardToken reads back from


def get_events(
    snap: Snapshot, window: Window, *, limit: int, direction: str, position: int | None
) -> Page:
    """One page of one stream. `direction` "f" reads on from `position` (None: the head, or
    the window's start), "b" reads back from it (None: the end, or the window's end)."""
    if direction == "f":
        if position is None:
            position = _start_of(snap, window)
        return _forward(snap, window, limit, position)
    if position is None:
        position = _end_of(snap, window)
    return _backward(snap, window, limit, position)


def _start_of(snap: Snapshot, window: Window) -> int:
    if snap.sorted and window.low is not None:
        return first_at_or_after(snap, window.low)
    return 0


def _end_of(snap: Snapshot, window: Window) -> int:
    if snap.sorted and window.high is not None:
        return first_at_or_after(snap, window.high + (1 if window.high_inclusive else 0))
    return snap.count


def _forward(snap: Snapshot, window: Window, limit: int, position: int) -> Page:
    events: list[Event] = []
    size = 0
    at = position
    for event in iter_events(snap, position, snap.count):
        if snap.sorted and window.after(event.timestamp):
            break  # not consumed: a later read with a wider window finds it
        at = event.index + 1
        if not window.holds(event.timestamp):
            continue
        size += event.size + EVENT_OVERHEAD
        if size > MAX_RESPONSE_BYTES and events:
            at = event.index
            break
        events.append(event)
        if len(events) >= limit:
            break
    backward = events[0].index if events else position
    return Page(events, forward=at, backward=backward)


def _backward(snap: Snapshot, window: Window, limit: int, position: int) -> Page:
    taken: list[Event] = []
    size = 0
    end = min(position, snap.count)
    done = False
    while end > 0 and not done:
        chunk = read_events(snap, max(0, end - _CHUNK), end)
        if not chunk:
            break
        for event in reversed(chunk):
            if snap.sorted and window.before(event.timestamp):
                done = True
                break
            if not window.holds(event.timestamp):
                continue
            size += event.size + EVENT_OVERHEAD
            if size > MAX_RESPONSE_BYTES and taken:
                done = True
                break
            taken.append(event)
            if len(taken) >= limit:
                done = True
                break
        end = chunk[0].index
    if not taken:
        return Page([], forward=position, backward=position)
    taken.reverse()
    return Page(taken, forward=taken[-1].index + 1, backward=taken[0].index)


# -- FilterLogEvents --------------------------------------------------------------------------


class TimeSpan(Protocol):
    """A stream's first and latest timestamps (a `Snapshot`, or the catalog's `StreamFile`)."""

    @property
    def first_ms(self) -> int | None: ...
    @property
    def last_ms(self) -> int | None: ...


def overlaps(stream: TimeSpan, window: Window) -> bool:
    """Whether any event of the stream may fall in the window (from its first and latest
    timestamps, which the catalog knows without reading)."""
    if stream.first_ms is None or stream.last_ms is None:
        return False
    return not window.before(stream.last_ms) and not window.after(stream.first_ms)


Key = tuple[int, str, int]  # (timestamp, stream name, index): the order of a filtered page


@dataclass(frozen=True, slots=True)
class Found:
    stream: Snapshot
    event: Event

    @property
    def key(self) -> Key:
        return (self.event.timestamp, self.stream.name, self.event.index)


def filter_events(
    snaps: list[Snapshot],
    window: Window,
    *,
    matches: Callable[[str], bool] | None,
    limit: int,
    after: Key | None,
) -> tuple[list[Found], Key | None]:
    """The first `limit` matching events after `after`, and the key to continue after
    (None when there are no more)."""
    streams = [_matching(snap, window, matches, after) for snap in snaps]
    merged = heapq.merge(*streams, key=lambda found: found.key)
    out: list[Found] = []
    size = 0
    for found in merged:
        size += found.event.size + EVENT_OVERHEAD
        if len(out) >= limit or (size > MAX_RESPONSE_BYTES and out):
            return out, out[-1].key
        out.append(found)
    return out, None


def _matching(
    snap: Snapshot, window: Window, matches: Callable[[str], bool] | None, after: Key | None
) -> Iterator[Found]:
    low = window.low
    if after is not None and (low is None or after[0] > low):
        low = after[0]
    if not overlaps(snap, Window(low=low, high=window.high, high_inclusive=True)):
        return  # nothing of this stream can be in the window: not even opened
    if not snap.sorted:  # a stream given events out of order (PutLogEvents): read it whole
        found = [
            Found(snap, e)
            for e in iter_events(snap, 0, snap.count)
            if window.holds(e.timestamp) and (matches is None or matches(e.message))
        ]
        found.sort(key=lambda f: f.key)
        yield from (f for f in found if after is None or f.key > after)
        return
    start = first_at_or_after(snap, low) if low is not None else 0
    for event in iter_events(snap, start, snap.count):
        if window.after(event.timestamp):
            return
        if window.before(event.timestamp):
            continue
        item = Found(snap, event)
        if after is not None and item.key <= after:
            continue
        if matches is None or matches(event.message):
            yield item
