"""A record as consumers see it (the pollers of event source mappings, GetRecords), one to
put, and where a put one went."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamRecord:
    sequence_number: str  # decimal, increasing within its shard
    partition_key: str
    data: bytes
    arrival_s: float  # ApproximateArrivalTimestamp, epoch seconds


@dataclass(frozen=True, slots=True)
class Entry:
    """A record to put: its partition key, its data and the hash key that places it."""

    partition_key: str
    data: bytes
    hash_key: int


@dataclass(frozen=True, slots=True)
class Placed:
    """Where a put record went."""

    shard_id: str
    sequence_number: str
