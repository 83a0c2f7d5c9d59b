"""The stream service: puts, iterators, reads, wake-ups and trimming, durable on a journal.

`open_streams` opens ``streams.sqlite3`` in the state directory, loads every stream and record
into memory and runs, in its nursery, the journal's writer and one trimmer task. The trimmer
sleeps until the oldest record of any shard passes its stream's retention and is woken when
an earlier deadline appears: an idle service wakes for nothing. Reads trim on access too, so
an expired record is never returned, whenever the trimmer runs. A reader waiting for records
(`wait`) waits on its shard's trio event, set when a put to that shard is on disk.

Cleanup: leaving `open_streams` cancels both tasks; the writer commits what is queued before
it closes the file.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import trio

from engine.journal.journal import Journal
from engine.kinesis import iterators, sequence, store
from engine.kinesis.catalog import StreamCatalog
from engine.kinesis.errors import InvalidArgumentException, ResourceNotFoundException
from engine.kinesis.iterators import ShardIterator
from engine.kinesis.records import Entry, Placed, StreamRecord
from engine.kinesis.shard import Shard, Slot, shard_name
from engine.kinesis.stream import Stream, shard_number
from engine.model.arns import ACCOUNT_ID

__all__ = ["Entry", "Placed", "StreamRecord", "StreamService", "open_streams"]

# GetRecords answers at most 10 MiB (and at least one record), as Kinesis does.
MAX_GET_BYTES: Final = 10 * 1024 * 1024


class StreamService:
    def __init__(
        self, journal: Journal, *, region: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.journal = journal
        self.region = region
        self.clock = clock
        self.catalog = StreamCatalog(journal, region=region, clock=clock)
        self.catalog.on_delete = self._deleted
        self.catalog.on_retention = self._retention_changed
        self._waiters: dict[Shard, trio.Event] = {}
        self._trim_wake = trio.Event()
        self._trim_at = math.inf

    # --- the interface the event source mappings' pollers use -------------------------------

    def stream_exists(self, arn: str) -> bool:
        return arn in self.catalog.by_arn

    def shard_ids(self, arn: str) -> list[str]:
        return [shard.shard_id for shard in self.catalog.get_by_arn(arn).shards]

    def position(
        self,
        arn: str,
        shard_id: str,
        kind: str,
        *,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> int:
        """An opaque position in the shard (an ordinal) for an iterator type. AT_TIMESTAMP
        after the last record is the tip; a sequence number must be one of this shard's."""
        stream = self.catalog.get_by_arn(arn)
        shard = self.shard(stream, shard_id)
        self._trim(stream, shard, self.clock())
        return self._position(stream, shard, kind, sequence_number, timestamp)

    def read(
        self, arn: str, shard_id: str, position: int, limit: int
    ) -> tuple[list[StreamRecord], int]:
        """Up to `limit` records from `position` (from the trim horizon if that is later),
        and the position after the last one returned."""
        stream = self.catalog.get_by_arn(arn)
        shard = self.shard(stream, shard_id)
        self._trim(stream, shard, self.clock())
        return shard.read(position, limit, MAX_GET_BYTES)

    async def wait(self, arn: str, shard_id: str, position: int, timeout_s: float) -> None:
        """Return once a record exists at or after `position`, or after `timeout_s`. Raises
        ResourceNotFoundException if the stream is (or gets) deleted."""
        deadline = trio.current_time() + timeout_s
        while True:
            stream = self.catalog.get_by_arn(arn)
            shard = self.shard(stream, shard_id)
            if shard.has_record_from(position) or trio.current_time() >= deadline:
                return
            event = self._waiters.get(shard)
            if event is None:
                event = self._waiters[shard] = trio.Event()
            with trio.move_on_at(deadline):
                await event.wait()

    def millis_behind_latest(self, arn: str, shard_id: str, position: int) -> int:
        stream = self.catalog.get_by_arn(arn)
        shard = self.shard(stream, shard_id)
        now = self.clock()
        self._trim(stream, shard, now)
        return _behind_ms(shard, position, now)

    # --- what the API does ------------------------------------------------------------------

    def shard(self, stream: Stream, shard_id: str) -> Shard:
        """The shard `shard_id` names, or ResourceNotFoundException in Kinesis's words."""
        index = shard_number(shard_id)
        if index is None:
            raise ResourceNotFoundException(
                f"Could not find shard {shard_id} in stream {stream.name} under account "
                f"{ACCOUNT_ID}."
            )
        if index >= len(stream.shards):
            raise ResourceNotFoundException(
                f"Shard {shard_name(index)} in stream {stream.name} under account {ACCOUNT_ID} "
                "does not exist"
            )
        return stream.shards[index]

    async def put(self, stream: Stream, entries: Sequence[Entry]) -> list[Placed]:
        """Put the records, in order; answered once they are all on disk."""
        now = self.clock()
        placed: list[tuple[Shard, Slot]] = []
        rows: list[store.RecordRow] = []
        for entry in entries:
            shard = stream.shard_for(entry.hash_key)
            slot = shard.append(entry.partition_key, entry.data, now)
            placed.append((shard, slot))
            rows.append(
                store.RecordRow(
                    stream.epoch_ms,
                    shard.index,
                    slot.ordinal,
                    entry.partition_key,
                    entry.data,
                    slot.record.arrival_s,
                )
            )
        by_shard: dict[Shard, list[Slot]] = defaultdict(list)
        for shard, slot in placed:
            by_shard[shard].append(slot)
        try:
            await self.journal.commit(store.insert_records(rows))
        except BaseException:
            for shard, slots in by_shard.items():
                shard.discard(slots)
            raise
        for shard, slots in by_shard.items():
            shard.settle(slots)
            self._wake(shard)
        self._schedule_trim(now + stream.retention_s)
        return [Placed(shard.shard_id, slot.record.sequence_number) for shard, slot in placed]

    def iterator(
        self,
        stream: Stream,
        shard_id: str,
        kind: str,
        *,
        sequence_number: str | None,
        timestamp: float | None,
    ) -> str:
        """GetShardIterator: a token for the position, valid for five minutes."""
        shard = self.shard(stream, shard_id)
        now = self.clock()
        if kind == "AT_TIMESTAMP" and timestamp is not None and timestamp > now:
            raise InvalidArgumentException(
                "The timestampInMillis parameter cannot be greater than the "
                f"currentTimestampInMillis. timestampInMillis: {int(timestamp * 1000)}, "
                f"currentTimestampInMillis: {int(now * 1000)}"
            )
        self._trim(stream, shard, now)
        position = self._position(stream, shard, kind, sequence_number, timestamp)
        issued = ShardIterator(stream.name, stream.epoch_ms, shard.index, position, int(now * 1000))
        return issued.encode()

    def get_records(self, token: str, limit: int) -> tuple[list[StreamRecord], str, int]:
        """GetRecords: the records, the next iterator and MillisBehindLatest."""
        given = iterators.decode(token)
        now = self.clock()
        iterators.check_fresh(given, int(now * 1000))
        stream = self.catalog.by_name.get(given.stream)
        if (
            stream is None
            or stream.epoch_ms != given.epoch_ms
            or given.shard_index >= len(stream.shards)
        ):
            raise ResourceNotFoundException(
                f"Shard {shard_name(given.shard_index)} in stream {given.stream} under account "
                f"{ACCOUNT_ID} does not exist"
            )
        shard = stream.shards[given.shard_index]
        self._trim(stream, shard, now)
        records, after = shard.read(given.position, limit, MAX_GET_BYTES)
        following = ShardIterator(stream.name, stream.epoch_ms, shard.index, after, int(now * 1000))
        return records, following.encode(), _behind_ms(shard, after, now)

    # --- positions --------------------------------------------------------------------------

    def _position(
        self,
        stream: Stream,
        shard: Shard,
        kind: str,
        sequence_number: str | None,
        timestamp: float | None,
    ) -> int:
        by_sequence = kind in ("AT_SEQUENCE_NUMBER", "AFTER_SEQUENCE_NUMBER")
        if by_sequence != (sequence_number is not None) and kind != "AT_TIMESTAMP":
            also = "also a" if sequence_number is not None else "no"
            raise InvalidArgumentException(
                "Must either specify (1) AT_SEQUENCE_NUMBER or AFTER_SEQUENCE_NUMBER and "
                "StartingSequenceNumber or (2) TRIM_HORIZON or LATEST and no "
                f"StartingSequenceNumber. Request specified {kind} and {also} "
                "StartingSequenceNumber."
            )
        if kind == "TRIM_HORIZON":
            return shard.horizon
        if kind == "LATEST":
            return shard.tip
        if kind == "AT_TIMESTAMP":
            if timestamp is None:
                raise InvalidArgumentException(
                    "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP. "
                    "Current request has no timestamp parameter."
                )
            return shard.at_timestamp(timestamp)
        if not by_sequence or sequence_number is None:
            raise InvalidArgumentException(f"Unknown ShardIteratorType {kind}.")
        parts = self._sequence(stream, shard, sequence_number)
        return parts.ordinal if kind == "AT_SEQUENCE_NUMBER" else parts.counter

    @staticmethod
    def _sequence(stream: Stream, shard: Shard, text: str) -> sequence.SequenceParts:
        parts = sequence.parse(text)
        where = (
            f"StartingSequenceNumber {text} used in GetShardIterator on shard {shard.shard_id} "
            f"in stream {stream.name} under account {ACCOUNT_ID} is invalid"
        )
        if parts is None:
            raise InvalidArgumentException(where + ".")
        if parts.shard_index != shard.index:
            raise InvalidArgumentException(
                f"Invalid StartingSequenceNumber. It encodes {shard_name(parts.shard_index)}, "
                f"while it was used in a call to a shard with {shard.shard_id}"
            )
        if parts.epoch_ms != stream.epoch_ms:
            raise InvalidArgumentException(where + " because it did not come from this stream.")
        if parts.counter > shard.next_ordinal:  # no record has had this number yet
            raise InvalidArgumentException(where + ".")
        return parts

    # --- waking and trimming ----------------------------------------------------------------

    def _wake(self, shard: Shard) -> None:
        event = self._waiters.pop(shard, None)
        if event is not None:
            event.set()

    def _deleted(self, stream: Stream) -> None:
        for shard in stream.shards:
            self._wake(shard)  # their readers find the stream gone

    def _retention_changed(self, stream: Stream) -> None:
        oldest = [a for s in stream.shards if (a := s.oldest_arrival()) is not None]
        if oldest:
            self._schedule_trim(min(oldest) + stream.retention_s)

    def _schedule_trim(self, at: float) -> None:
        if at < self._trim_at:
            self._trim_at = at
            self._trim_wake.set()

    def _trim(self, stream: Stream, shard: Shard, now: float) -> None:
        if shard.trim(now - stream.retention_s):
            self.journal.defer(store.trim_records(stream.epoch_ms, shard.index, shard.horizon))

    def _trim_all(self, now: float) -> float:
        """Trim every shard; the time the next record expires (inf: none)."""
        due = math.inf
        for stream in list(self.catalog.by_name.values()):
            for shard in stream.shards:
                self._trim(stream, shard, now)
                oldest = shard.oldest_arrival()
                if oldest is not None:
                    due = min(due, oldest + stream.retention_s)
        return due

    async def run_trimmer(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            self._trim_wake = trio.Event()
            now = self.clock()
            self._trim_at = self._trim_all(now)
            if math.isinf(self._trim_at):
                await self._trim_wake.wait()
                continue
            with trio.move_on_after(max(0.0, self._trim_at - now)):
                await self._trim_wake.wait()

    # --- loading ----------------------------------------------------------------------------

    def load(self, snapshot: store.Snapshot) -> None:
        by_epoch: dict[int, Stream] = {}
        for row in snapshot.streams:
            stream = self.catalog.restore(row)
            by_epoch[stream.epoch_ms] = stream
        for record in snapshot.records:
            owner = by_epoch.get(record.epoch_ms)
            if owner is None or record.shard >= len(owner.shards):
                continue  # a deleted stream's rows
            owner.shards[record.shard].restore(
                record.ordinal, record.partition_key, record.data, record.arrival_s
            )
        for (epoch, index), ordinal in snapshot.horizons.items():
            owner = by_epoch.get(epoch)
            if owner is not None and index < len(owner.shards):
                owner.shards[index].skip_to(ordinal)


def _behind_ms(shard: Shard, position: int, now: float) -> int:
    """How far behind the tip a reader at `position` is: the age of its next record (0: none)."""
    arrival = shard.arrival_from(position)
    return 0 if arrival is None else max(0, int((now - arrival) * 1000))


@asynccontextmanager
async def open_streams(
    state_dir: Path, *, region: str, clock: Callable[[], float] = time.time
) -> AsyncIterator[StreamService]:
    """The service over ``state_dir / "streams.sqlite3"``, loaded, with its writer and trimmer."""
    journal = Journal(state_dir / "streams.sqlite3", store.SCHEMA)
    service = StreamService(journal, region=region, clock=clock)
    try:
        service.load(journal.read(store.load))
    except BaseException:
        journal.close()
        raise
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        await nursery.start(service.run_trimmer)
        try:
            yield service
        finally:
            nursery.cancel_scope.cancel()
