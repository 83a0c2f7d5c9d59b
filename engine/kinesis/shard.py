"""One shard in memory: its records in order, which of them are on disk yet, its trim horizon.
Pure.

Positions are ordinals: the n-th record ever put in the shard has ordinal n, kept for good (a
sequence number encodes it). A record is appended *pending* when its sequence number is
given, and becomes readable once its commit is done; a reader stops at the first pending
record, so readers never see a record out of order nor one that is not on disk. A record whose
commit failed is discarded, leaving a gap in the ordinals that readers step over. Expired
records leave from the front (`trim`).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Final

from engine.kinesis.records import StreamRecord
from engine.kinesis.sequence import sequence_number, starting_sequence_number

_COMPACT_AT: Final = 1024  # trimmed slots dropped from the list once this many and half of it
_ordinal = attrgetter("ordinal")
_arrival = attrgetter("record.arrival_s")


def shard_name(index: int) -> str:
    return f"shardId-{index:012d}"


@dataclass(slots=True, eq=False)
class Slot:
    ordinal: int
    record: StreamRecord
    size: int  # data and partition key, in bytes
    pending: bool


class Shard:
    def __init__(self, *, index: int, epoch_ms: int, starting_hash: int, ending_hash: int) -> None:
        self.index = index
        self.epoch_ms = epoch_ms
        self.shard_id = shard_name(index)
        self.starting_hash = starting_hash
        self.ending_hash = ending_hash
        self.next_ordinal = 0
        self._slots: list[Slot] = []
        self._head = 0  # slots before it are trimmed
        self._visible_end = 0  # the first pending slot's index (or the list's length)
        self._last_arrival_s = 0.0

    @property
    def starting_sequence_number(self) -> str:
        return starting_sequence_number(self.epoch_ms, self.index)

    # --- writing ----------------------------------------------------------------------------

    def append(self, partition_key: str, data: bytes, now_s: float) -> Slot:
        """A new pending record (arrival times never go back within a shard)."""
        arrival = max(now_s, self._last_arrival_s)
        ordinal = self.next_ordinal
        record = StreamRecord(
            sequence_number(self.epoch_ms, self.index, ordinal), partition_key, data, arrival
        )
        slot = Slot(ordinal, record, len(data) + len(partition_key.encode()), pending=True)
        self._slots.append(slot)
        self.next_ordinal = ordinal + 1
        self._last_arrival_s = arrival
        return slot

    def restore(self, ordinal: int, partition_key: str, data: bytes, arrival_s: float) -> None:
        """A record read back from disk (in ordinal order, before any append)."""
        record = StreamRecord(
            sequence_number(self.epoch_ms, self.index, ordinal), partition_key, data, arrival_s
        )
        self._slots.append(Slot(ordinal, record, len(data) + len(partition_key.encode()), False))
        self._visible_end = len(self._slots)
        self.next_ordinal = max(self.next_ordinal, ordinal + 1)
        self._last_arrival_s = max(self._last_arrival_s, arrival_s)

    def settle(self, slots: Iterable[Slot]) -> None:
        """These records are on disk: readable, once every record before them is."""
        for slot in slots:
            slot.pending = False
        while self._visible_end < len(self._slots) and not self._slots[self._visible_end].pending:
            self._visible_end += 1

    def discard(self, slots: Iterable[Slot]) -> None:
        """These records' commit failed: they never were."""
        gone = {id(slot) for slot in slots}
        self._slots = [s for s in self._slots[self._head :] if id(s) not in gone]
        self._head = 0
        self._visible_end = next(
            (i for i, s in enumerate(self._slots) if s.pending), len(self._slots)
        )

    def skip_to(self, ordinal: int) -> None:
        """Ordinals below `ordinal` were used once (a trim horizon read back from disk)."""
        self.next_ordinal = max(self.next_ordinal, ordinal)

    # --- reading ----------------------------------------------------------------------------

    @property
    def horizon(self) -> int:
        """The trim horizon: the oldest record's position (the tip's when there is none)."""
        return (
            self._slots[self._head].ordinal if self._head < len(self._slots) else self.next_ordinal
        )

    @property
    def tip(self) -> int:
        """LATEST: the position after the last readable record."""
        if self._visible_end < len(self._slots):
            return self._slots[self._visible_end].ordinal
        return self.next_ordinal

    def _first_from(self, position: int) -> int:
        """The index of the first readable slot at or after `position` (`_visible_end`: none)."""
        start = max(position, self.horizon)
        return bisect.bisect_left(
            self._slots, start, lo=self._head, hi=self._visible_end, key=_ordinal
        )

    def read(self, position: int, limit: int, max_bytes: int) -> tuple[list[StreamRecord], int]:
        """Up to `limit` records from `position` (at least one if any, then at most `max_bytes`
        of them), and the position after the last one returned."""
        start = max(position, self.horizon)
        i = self._first_from(start)
        out: list[StreamRecord] = []
        size = 0
        while i < self._visible_end and len(out) < limit:
            slot = self._slots[i]
            if out and size + slot.size > max_bytes:
                break
            out.append(slot.record)
            size += slot.size
            i += 1
        return out, (self._slots[i - 1].ordinal + 1 if out else start)

    def has_record_from(self, position: int) -> bool:
        return self._first_from(position) < self._visible_end

    def arrival_from(self, position: int) -> float | None:
        """The arrival time of the first readable record at or after `position`, if any."""
        i = self._first_from(position)
        return self._slots[i].record.arrival_s if i < self._visible_end else None

    def at_timestamp(self, timestamp_s: float) -> int:
        """The position of the first record that arrived at or after `timestamp_s`."""
        i = bisect.bisect_left(self._slots, timestamp_s, lo=self._head, key=_arrival)
        return self._slots[i].ordinal if i < len(self._slots) else self.next_ordinal

    def visible_count(self) -> int:
        return self._visible_end - self._head

    # --- expiring ---------------------------------------------------------------------------

    def oldest_arrival(self) -> float | None:
        return self._slots[self._head].record.arrival_s if self._head < self._visible_end else None

    def trim(self, cutoff_s: float) -> bool:
        """Drop the records that arrived at or before `cutoff_s`; whether any were dropped."""
        start = self._head
        while (
            self._head < self._visible_end and self._slots[self._head].record.arrival_s <= cutoff_s
        ):
            self._head += 1
        trimmed = self._head != start
        if self._head >= _COMPACT_AT and self._head * 2 >= len(self._slots):
            del self._slots[: self._head]
            self._visible_end -= self._head
            self._head = 0
        return trimmed
