"""The streams themselves: create, find, list, delete, retention and tags, persisted.

Holds every `Stream` by name and by ARN; what happens to records is `engine.kinesis.service`'s.
Each change is committed before it is answered.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Final

from engine.journal.journal import Journal
from engine.kinesis import store
from engine.kinesis.errors import (
    InvalidArgumentException,
    LimitExceededException,
    ResourceInUseException,
    stream_not_found,
)
from engine.kinesis.stream import (
    DEFAULT_MAX_RECORD_KIB,
    DEFAULT_RETENTION_HOURS,
    MAX_RETENTION_HOURS,
    MIN_RETENTION_HOURS,
    ON_DEMAND_SHARDS,
    Stream,
    stream_arn,
)
from engine.model.arns import ACCOUNT_ID

# AWS's default shard quota in its larger regions; every shard costs memory here.
MAX_SHARDS: Final = 500
MAX_TAGS: Final = 50
# Unicode letters and digits, white space, and _ . / = + - % @ (AWS's tag characters);
# '%' is then refused on its own, as AWS refuses it.
_TAG_TEXT: Final = re.compile(r"[\w\s./=+\-%@:]*")


def _arn_name(arn: str) -> str:
    return arn.rpartition(":stream/")[2] or arn


class StreamCatalog:
    def __init__(
        self, journal: Journal, *, region: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.journal = journal
        self.region = region
        self.clock = clock
        self.by_name: dict[str, Stream] = {}
        self.by_arn: dict[str, Stream] = {}
        self._creating: dict[str, int] = {}  # name → shards, while its commit is awaited
        self._last_epoch_ms = 0
        # Called once a stream is gone (the service wakes its readers), and after a stream's
        # retention changed (the trimmer may have to run sooner).
        self.on_delete: Callable[[Stream], None] = lambda stream: None
        self.on_retention: Callable[[Stream], None] = lambda stream: None

    # --- finding ----------------------------------------------------------------------------

    def get(self, name: str) -> Stream:
        stream = self.by_name.get(name)
        if stream is None:
            raise stream_not_found(name)
        return stream

    def get_by_arn(self, arn: str) -> Stream:
        stream = self.by_arn.get(arn)
        if stream is None:
            raise stream_not_found(_arn_name(arn))
        return stream

    def names(self) -> list[str]:
        return sorted(self.by_name)

    def shard_total(self) -> int:
        return sum(len(s.shards) for s in self.by_name.values())

    # --- changing ---------------------------------------------------------------------------

    def restore(self, row: store.StreamRow) -> Stream:
        stream = Stream.create(
            name=row.name,
            arn=stream_arn(self.region, row.name),
            epoch_ms=row.epoch_ms,
            mode=row.mode,
            shard_count=row.shard_count,
            retention_hours=row.retention_hours,
            max_record_kib=row.max_record_kib,
            tags=row.tags,
        )
        self.by_name[stream.name] = stream
        self.by_arn[stream.arn] = stream
        self._last_epoch_ms = max(self._last_epoch_ms, stream.epoch_ms)
        return stream

    async def create(
        self,
        name: str,
        *,
        shard_count: int | None,
        mode: str | None,
        tags: Mapping[str, str],
        max_record_kib: int | None,
    ) -> Stream:
        """The stream `name`, ACTIVE at once. No ShardCount and no mode: ON_DEMAND (as AWS)."""
        if name in self.by_name or name in self._creating:
            raise ResourceInUseException(
                f"Stream {name} under account {ACCOUNT_ID} already exists."
            )
        mode = mode or ("PROVISIONED" if shard_count is not None else "ON_DEMAND")
        if mode == "ON_DEMAND":
            if shard_count is not None:
                raise InvalidArgumentException(
                    "ShardCount must not be specified for a stream in ON_DEMAND mode."
                )
            shard_count = ON_DEMAND_SHARDS
        elif shard_count is None:
            raise InvalidArgumentException(
                "ShardCount is required for a stream in PROVISIONED mode."
            )
        current = self.shard_total() + sum(self._creating.values())
        if current + shard_count > MAX_SHARDS:
            raise LimitExceededException(
                f"This request would exceed the shard limit for the account {ACCOUNT_ID} in "
                f"{self.region}. Current shard count for the account: {current}. Limit: "
                f"{MAX_SHARDS}. Number of additional shards that would have resulted from this "
                f"request: {shard_count}. Refer to the AWS Service Limits page "
                "(http://docs.aws.amazon.com/general/latest/gr/aws_service_limits.html) for "
                "current limits and how to request higher limits."
            )
        checked = self._checked_tags(name, tags, {}, verb="add tags to")
        epoch = max(int(self.clock() * 1000), self._last_epoch_ms + 1)
        self._last_epoch_ms = epoch
        row = store.StreamRow(
            name,
            epoch,
            mode,
            shard_count,
            DEFAULT_RETENTION_HOURS,
            max_record_kib or DEFAULT_MAX_RECORD_KIB,
            checked,
        )
        self._creating[name] = shard_count
        try:
            await self.journal.commit(store.put_stream(row))
        finally:
            del self._creating[name]
        return self.restore(row)

    async def delete(self, stream: Stream) -> None:
        """Gone from memory at once (so no record is put in it meanwhile), then from disk."""
        if self.by_name.get(stream.name) is not stream:
            raise stream_not_found(stream.name)
        del self.by_name[stream.name]
        del self.by_arn[stream.arn]
        self.on_delete(stream)
        await self.journal.commit(store.delete_stream(stream.name, stream.epoch_ms))

    async def set_retention(self, stream: Stream, hours: int, *, increase: bool) -> None:
        if hours < MIN_RETENTION_HOURS:
            raise InvalidArgumentException(
                f"Minimum allowed retention period is {MIN_RETENTION_HOURS} hours. Requested "
                f"retention period ({hours} hours) is too short."
            )
        if hours > MAX_RETENTION_HOURS:
            raise InvalidArgumentException(
                f"Maximum allowed retention period is {MAX_RETENTION_HOURS} hours. Requested "
                f"retention period ({hours} hours) is too long."
            )
        current = stream.retention_hours
        if increase and hours < current:
            raise InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {stream.name} can not "
                f"be shorter than existing retention period ({current} hours). Use "
                "DecreaseRetentionPeriod API."
            )
        if not increase and hours > current:
            raise InvalidArgumentException(
                f"Requested retention period ({hours} hours) for stream {stream.name} can not "
                f"be longer than existing retention period ({current} hours). Use "
                "IncreaseRetentionPeriod API."
            )
        await self._save(stream, retention_hours=hours)
        stream.retention_hours = hours
        self.on_retention(stream)

    async def tag(self, stream: Stream, tags: Mapping[str, str]) -> None:
        merged = self._checked_tags(stream.name, tags, stream.tags, verb="add tags to")
        await self._save(stream, tags=merged)
        stream.tags = merged

    async def untag(self, stream: Stream, keys: Iterable[str]) -> None:
        drop = set(keys)
        _check_tag_text(stream.name, drop, verb="remove tags from")
        kept = {k: v for k, v in stream.tags.items() if k not in drop}
        await self._save(stream, tags=kept)
        stream.tags = kept

    async def _save(
        self,
        stream: Stream,
        *,
        retention_hours: int | None = None,
        tags: dict[str, str] | None = None,
    ) -> None:
        row = store.StreamRow(
            stream.name,
            stream.epoch_ms,
            stream.mode,
            len(stream.shards),
            stream.retention_hours if retention_hours is None else retention_hours,
            stream.max_record_kib,
            stream.tags if tags is None else tags,
        )
        if self.by_name.get(stream.name) is not stream:
            raise stream_not_found(stream.name)
        await self.journal.commit(store.put_stream(row))

    @staticmethod
    def _checked_tags(
        name: str, given: Mapping[str, str], existing: Mapping[str, str], *, verb: str
    ) -> dict[str, str]:
        _check_tag_text(name, [*given.keys(), *given.values()], verb=verb)
        merged = {**existing, **given}
        if len(merged) > MAX_TAGS:
            raise InvalidArgumentException(
                f"Failed to {verb} stream {name} under account {ACCOUNT_ID} because a given "
                f"stream cannot have more than {MAX_TAGS} tags associated with it."
            )
        return merged


def _check_tag_text(name: str, texts: Iterable[str], *, verb: str) -> None:
    texts = list(texts)
    if any(_TAG_TEXT.fullmatch(t) is None for t in texts):
        raise InvalidArgumentException(
            "Some tags contain invalid characters. Valid characters: Unicode letters, digits, "
            "white space, _ . / = + - % @."
        )
    if any("%" in t for t in texts):
        raise InvalidArgumentException(
            f"Failed to {verb} stream {name} under account {ACCOUNT_ID} because some tags "
            "contained illegal characters. The allowed characters are Unicode letters, "
            "white-spaces, '_',',','/','=','+','-','@'."
        )
