"""Output bytes cut into CloudWatch events, as Lambda cuts them. Pure.

A line, with its newline, is one event. A line whose newline has not come yet stays pending
until it comes, until it reaches `MAX_EVENT_BYTES` (then that much is an event), or until
`cut()` (the end of the environment). The splitter never copies bytes: the output is kept
whole (it is the stream's ``.log``) and an event is only where it ends in it and when it
began, handed to `sink(timestamp_ms, end_offset, now_ms)`.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.runtime.log_format import MAX_EVENT_BYTES

# (timestamp ms, end offset of the event in the output, the time it was cut)
Sink = Callable[[int, int, int], None]


class LineSplitter:
    def __init__(self, sink: Sink, *, offset: int = 0, limit: int = MAX_EVENT_BYTES) -> None:
        self.sink = sink
        self.limit = limit
        self.offset = offset  # bytes of output seen (the next byte's offset)
        self.start = offset  # where the pending event begins
        self.since_ms = 0  # when the pending event's first byte came

    @property
    def pending(self) -> int:
        return self.offset - self.start

    def feed(self, data: bytes, now_ms: int) -> None:
        """`data` came at `now_ms`: every event it completes goes to the sink."""
        base = self.offset
        start = self.start
        stamp = self.since_ms if start != base else now_ms
        pos = data.find(b"\n")
        while pos >= 0:  # written out for the common case: a line at most `limit` long
            end = base + pos + 1
            if end - start > self.limit:
                self.start, self.since_ms = start, stamp
                self._emit(end, now_ms)
            else:
                self.sink(stamp, end, now_ms)
            start, stamp = end, now_ms
            pos = data.find(b"\n", pos + 1)
        self.start, self.since_ms, self.offset = start, stamp, base + len(data)
        if self.offset - start >= self.limit:
            self._emit(self.offset - (self.offset - start) % self.limit, now_ms)

    def resume_at(self, offset: int, now_ms: int) -> None:
        """The output goes on at `offset`: bytes not fed here came in between (an API client
        put events into this stream). What was pending ends where they began."""
        if offset != self.offset:
            self.cut(now_ms)
            self.start = self.offset = offset

    def cut(self, now_ms: int) -> None:
        """The pending part, if any, becomes an event of its own."""
        if self.start != self.offset:
            self._emit(self.offset, now_ms)

    def _emit(self, end: int, now_ms: int) -> None:
        """Events up to `end`, none longer than the limit: the first is stamped with when it
        began, the rest (only ever pieces of one over-long line) with now."""
        stamp = self.since_ms
        while end - self.start > self.limit:
            self.start += self.limit
            self.sink(stamp, self.start, now_ms)
            stamp = now_ms
        self.start = end
        self.sink(stamp, end, now_ms)
        self.since_ms = now_ms
