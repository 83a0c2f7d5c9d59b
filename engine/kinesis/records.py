"""One record of a shard as consumers see it (the pollers of event source mappings, GetRecords)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class StreamRecord:
    sequence_number: str  # decimal, increasing within its shard
    partition_key: str
    data: bytes
    arrival_s: float  # ApproximateArrivalTimestamp, epoch seconds
