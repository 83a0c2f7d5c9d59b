"""The stream service: streams, their shards and records, durable on a journal.

`open_streams` opens ``streams.sqlite3`` in the state directory. (Entry point with its final
signature; the body follows.)
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from engine.kinesis.errors import stream_not_found
from engine.kinesis.records import StreamRecord

__all__ = ["StreamRecord", "StreamService", "open_streams"]


class StreamService:
    def __init__(self, *, region: str, clock: Callable[[], float] = time.time) -> None:
        self.region = region
        self.clock = clock

    # --- the interface the event source mappings' pollers use -------------------------------

    def stream_exists(self, arn: str) -> bool:
        return False

    def shard_ids(self, arn: str) -> list[str]:
        raise stream_not_found(arn)

    def position(
        self,
        arn: str,
        shard_id: str,
        kind: str,
        *,
        sequence_number: str | None = None,
        timestamp: float | None = None,
    ) -> int:
        raise stream_not_found(arn)

    def read(
        self, arn: str, shard_id: str, position: int, limit: int
    ) -> tuple[list[StreamRecord], int]:
        raise stream_not_found(arn)

    async def wait(self, arn: str, shard_id: str, position: int, timeout_s: float) -> None:
        raise stream_not_found(arn)

    def millis_behind_latest(self, arn: str, shard_id: str, position: int) -> int:
        raise stream_not_found(arn)


@asynccontextmanager
async def open_streams(
    state_dir: Path, *, region: str, clock: Callable[[], float] = time.time
) -> AsyncIterator[StreamService]:
    """The service over ``state_dir / "streams.sqlite3"``, loaded, with its writer and trimmer."""
    service = StreamService(region=region, clock=clock)
    async with trio.open_nursery() as nursery:
        try:
            yield service
        finally:
            nursery.cancel_scope.cancel()
