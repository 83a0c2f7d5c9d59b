"""One stream in memory: its settings, tags and shards. Pure.

Streams are ACTIVE as soon as CreateStream answers (Kinesis goes through CREATING for a few
seconds; here there is nothing to wait for). An ON_DEMAND stream has `ON_DEMAND_SHARDS`
shards for good: it does not scale (AWS starts on-demand streams with 4 shards too).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from engine.kinesis.hashing import hash_ranges, shard_index
from engine.kinesis.shard import Shard
from engine.model.arns import ACCOUNT_ID

ON_DEMAND_SHARDS: Final = 4
DEFAULT_RETENTION_HOURS: Final = 24
MIN_RETENTION_HOURS: Final = 24
MAX_RETENTION_HOURS: Final = 8760
DEFAULT_MAX_RECORD_KIB: Final = 1024
_SHARD_ID: Final = re.compile(r"(?:shardId-)?(\d{1,12})")


def shard_number(shard_id: str) -> int | None:
    """The index a shard id names: ``shardId-000000000001`` or, as Kinesis also reads it,
    ``1``; None if it names none."""
    match = _SHARD_ID.fullmatch(shard_id)
    return int(match.group(1)) if match is not None else None


def stream_arn(region: str, name: str) -> str:
    return f"arn:aws:kinesis:{region}:{ACCOUNT_ID}:stream/{name}"


@dataclass(eq=False, kw_only=True)
class Stream:
    name: str
    arn: str
    epoch_ms: int  # the creation time, unique among the daemon's streams
    mode: str  # "PROVISIONED" or "ON_DEMAND"
    retention_hours: int
    max_record_kib: int
    tags: dict[str, str]
    shards: list[Shard] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)

    @classmethod
    def create(
        cls,
        *,
        name: str,
        arn: str,
        epoch_ms: int,
        mode: str,
        shard_count: int,
        retention_hours: int = DEFAULT_RETENTION_HOURS,
        max_record_kib: int = DEFAULT_MAX_RECORD_KIB,
        tags: dict[str, str] | None = None,
    ) -> Stream:
        stream = cls(
            name=name,
            arn=arn,
            epoch_ms=epoch_ms,
            mode=mode,
            retention_hours=retention_hours,
            max_record_kib=max_record_kib,
            tags=dict(tags or {}),
        )
        for index, (start, end) in enumerate(hash_ranges(shard_count)):
            stream.shards.append(
                Shard(index=index, epoch_ms=epoch_ms, starting_hash=start, ending_hash=end)
            )
            stream._starts.append(start)
        return stream

    @property
    def retention_s(self) -> float:
        return self.retention_hours * 3600.0

    @property
    def created_s(self) -> float:
        return self.epoch_ms / 1000

    def shard_for(self, hash_key: int) -> Shard:
        return self.shards[shard_index(self._starts, hash_key)]

    def shard_named(self, shard_id: str) -> Shard | None:
        index = shard_number(shard_id)
        return self.shards[index] if index is not None and index < len(self.shards) else None
