"""A Kinesis event source mapping at work: one reader per shard, batches in order, checkpoints.

As Lambda's stream pollers (Developer Guide, "Using Lambda with Kinesis Data Streams"):
- each shard is read in order from its checkpoint (or from the mapping's StartingPosition:
  TRIM_HORIZON, LATEST, AT_TIMESTAMP); a batch is up to `BatchSize` records, sent when full,
  when the batching window has passed, or at once when the window is 0;
- `ParallelizationFactor` N > 1 splits what a shard read returns into N lanes by partition
  key, processed concurrently, so records of one key keep their order;
- a function error retries the batch (`MaximumRetryAttempts`, -1 = until the records expire)
  and blocks the shard meanwhile; `BisectBatchOnFunctionError` splits a failed batch in two
  (a split is not a retry); with `ReportBatchItemFailures` the shard checkpoints before the
  lowest failed sequence number and retries from there; a throttle is retried without
  counting; records older than `MaximumRecordAgeInSeconds` are given up;
- a batch given up goes to the mapping's OnFailure destination as metadata
  (`KinesisBatchInfo`, no records) and the shard moves past it;
- records that match none of the mapping's filters are skipped.

Checkpoints (`sources.checkpoints`) are written after each handled batch (one lane) or each
handled read (several lanes); a restart resumes from them: at least once, nothing skipped.
Stopping cancels waits and retries at once; a batch being invoked finishes.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Final

import trio

from engine.kinesis.errors import ResourceNotFoundException as StreamNotFound
from engine.kinesis.service import StreamRecord, StreamService
from engine.model.arns import function_arn
from engine.model.event_filters import (
    FilterCriteria,
    kinesis_filter_document,
    parse_filter_criteria,
)
from engine.model.event_source_mapping import EventSourceMapping
from engine.sources.batch_response import AllFailed, SomeFailed
from engine.sources.checkpoints import Checkpoint, Checkpoints
from engine.sources.invoking import REPORT_BATCH_ITEM_FAILURES, FunctionInvoker, attempt
from engine.sources.kinesis_records import (
    RECORD_AGE_EXCEEDED,
    RETRIES_EXHAUSTED,
    failure_record,
    kinesis_record,
)
from engine.sources.observer import (
    DROPPED,
    FAILED,
    FILTERED,
    INVOKED,
    NO_OBSERVER,
    POLLED,
    SourceObserver,
)
from engine.sources.tumbling import Window, window_of
from engine.sqs.service import QueueService

logger = logging.getLogger(__name__)

IDLE_WAIT_S: Final = 20.0  # a reader waits this long for records before looking again
RETRY_BASE_S: Final = 0.2
RETRY_CAP_S: Final = 5.0
MISSING_STREAM_BACKOFF_S: Final = 5.0
OK: Final = "OK"
PROBLEM: Final = "PROBLEM: Function call failed"


class KinesisPoller:
    def __init__(
        self,
        mapping: EventSourceMapping,
        *,
        streams: StreamService,
        invoker: FunctionInvoker,
        queues: QueueService | None,
        checkpoints: Checkpoints,
        region: str,
        identity_arn: str | Callable[[], str],
        report: Callable[[str], None],
        time_scale: float = 1.0,
        clock: Callable[[], float] = time.time,
        observer: SourceObserver = NO_OBSERVER,
    ) -> None:
        self.mapping = mapping
        self.observer = observer
        self.streams = streams
        self.invoker = invoker
        self.queues = queues
        self.checkpoints = checkpoints
        self.region = region
        self.identity_arn = identity_arn  # the role, or how to look it up (per batch)
        self.report = report
        self.time_scale = time_scale
        self.clock = clock
        self.criteria: FilterCriteria = parse_filter_criteria(mapping.filters)
        self.function_arn = function_arn(region, mapping.function_name, mapping.qualifier)
        self.stopping = False
        self._waits: set[trio.CancelScope] = set()
        self._last_report = ""

    async def run(self) -> None:
        while not self.stopping:
            gone = False
            try:
                shards = self.streams.shard_ids(self.mapping.source_arn)
                async with trio.open_nursery() as nursery:
                    for shard in shards:
                        nursery.start_soon(self._read_shard, shard)
            except* StreamNotFound:  # missing, or deleted while read: wait for it to come back
                gone = True
            if not gone:
                return
            await self._pause(MISSING_STREAM_BACKOFF_S)

    def stop(self) -> None:
        self.stopping = True
        for scope in list(self._waits):
            scope.cancel()

    async def _pause(self, seconds: float) -> None:
        if self.stopping:
            return
        with trio.CancelScope() as scope:
            self._waits.add(scope)
            try:
                await trio.sleep(seconds)
            finally:
                self._waits.discard(scope)

    def _count(self, outcome: str, count: int) -> None:
        if count:
            self.observer.events(self.mapping.uuid, self.mapping.function_name, outcome, count)

    def _set_report(self, text: str) -> None:
        if text != self._last_report:
            self._last_report = text
            self.report(text)

    # -- a shard ---------------------------------------------------------------------------

    def _start_position(self, shard: str) -> int:
        arn, mapping = self.mapping.source_arn, self.mapping
        checkpoint = self.checkpoints.get(mapping.uuid, shard)
        if checkpoint is None:
            if mapping.starting_position == "TRIM_HORIZON":
                checkpoint = Checkpoint()
            elif mapping.starting_position == "AT_TIMESTAMP":
                checkpoint = Checkpoint(at_timestamp=mapping.starting_position_timestamp or 0.0)
            else:  # LATEST: what arrives from now on, also across a restart before any record
                checkpoint = Checkpoint(at_timestamp=self.clock())
            self.checkpoints.set(mapping.uuid, shard, checkpoint)
        if checkpoint.after_sequence is not None:
            try:
                return self.streams.position(
                    arn, shard, "AFTER_SEQUENCE_NUMBER", sequence_number=checkpoint.after_sequence
                )
            except StreamNotFound:
                raise
            except Exception:  # the record has been trimmed: start at the oldest there is
                return self.streams.position(arn, shard, "TRIM_HORIZON")
        if checkpoint.at_timestamp is not None:
            return self.streams.position(
                arn, shard, "AT_TIMESTAMP", timestamp=checkpoint.at_timestamp
            )
        return self.streams.position(arn, shard, "TRIM_HORIZON")

    async def _wait(self, shard: str, position: int, timeout_s: float) -> None:
        if self.stopping:
            return
        with trio.CancelScope() as scope:
            self._waits.add(scope)
            try:
                await self.streams.wait(self.mapping.source_arn, shard, position, timeout_s)
            finally:
                self._waits.discard(scope)

    async def _read_shard(self, shard: str) -> None:
        if self.mapping.tumbling_window_s > 0:
            await self._read_windows(shard)
            return
        arn, mapping = self.mapping.source_arn, self.mapping
        lanes = max(1, mapping.parallelization_factor)
        limit = mapping.batch_size * lanes
        position = self._start_position(shard)
        while not self.stopping:
            records, after = self.streams.read(arn, shard, position, limit)
            if not records:
                await self._wait(shard, position, IDLE_WAIT_S)
                continue
            if mapping.max_batching_window_s > 0 and len(records) < limit:
                deadline = trio.current_time() + mapping.max_batching_window_s
                while len(records) < limit and not self.stopping:
                    left = deadline - trio.current_time()
                    if left <= 0:
                        break
                    await self._wait(shard, after, left)
                    more, after = self.streams.read(arn, shard, after, limit - len(records))
                    records += more
            self._count(POLLED, len(records))
            if lanes == 1:
                finished = await self._lane(shard, records, checkpoint_each=True)
            else:
                finished = await self._lanes(shard, records, lanes)
            if not finished:
                return  # stopping: what was not checkpointed is read again next time
            self._checkpoint(shard, records[-1])
            position = after

    async def _read_windows(self, shard: str) -> None:
        """A shard under tumbling windows: records in batches of one window at a time, each
        invocation carrying the window's state; a final invocation when the window is over.
        The checkpoint moves only when a window is closed, so a restart replays an open
        window from its start with an empty state (the state is never half-applied)."""
        arn, length = self.mapping.source_arn, self.mapping.tumbling_window_s
        position = self._start_position(shard)
        window: Window | None = None
        last: StreamRecord | None = None
        while not self.stopping:
            records, _ = self.streams.read(arn, shard, position, self.mapping.batch_size)
            if window is not None:
                same = bool(records) and window_of(records[0].arrival_s, length)[0] == window.start
                if not same and (records or self.clock() >= window.end):
                    if not await self._close_window(shard, window):
                        return
                    if last is not None:
                        self._checkpoint(shard, last)
                    window = None
                    continue
            if not records:
                timeout = IDLE_WAIT_S if window is None else max(window.end - self.clock(), 0.01)
                await self._wait(shard, position, min(timeout, IDLE_WAIT_S))
                continue
            if window is None:
                window = Window(*window_of(records[0].arrival_s, length))
            batch = _in_window(records, window.start, length)
            self._count(POLLED, len(batch))
            handled = await self._batch(shard, batch, window)
            if handled < len(batch):
                return  # stopping: the open window is replayed from its start next time
            last = batch[-1]
            position = self.streams.position(
                arn, shard, "AFTER_SEQUENCE_NUMBER", sequence_number=last.sequence_number
            )
            if window.terminated_early:
                if not await self._close_window(shard, window):
                    return
                self._checkpoint(shard, last)
                window = None

    async def _close_window(self, shard: str, window: Window) -> bool:
        """The window's final invocation (retried while it fails, within the mapping's retry
        limit); False when stopping."""
        event = {
            "Records": [],
            **window.envelope(shard_id=shard, stream_arn=self.mapping.source_arn, final=True),
        }
        retries = 0
        while not self.stopping:
            outcome = await attempt(
                self.invoker,
                function=self.mapping.function_name,
                qualifier=self.mapping.qualifier,
                event=event,
                batch_ids=(),
                report_failures=False,
            )
            if not isinstance(outcome.verdict, AllFailed):
                return True
            retries += 0 if outcome.throttled else 1
            if 0 <= self.mapping.max_retry_attempts < retries:
                logger.info(
                    "event source mapping %s: a window's final invoke was given up",
                    self.mapping.uuid,
                )
                return True
            await self._pause(min(RETRY_BASE_S * 2**retries, RETRY_CAP_S))
        return False

    def _checkpoint(self, shard: str, last: StreamRecord) -> None:
        checkpoint = Checkpoint(after_sequence=last.sequence_number)
        self.checkpoints.set(self.mapping.uuid, shard, checkpoint)

    async def _lanes(self, shard: str, records: list[StreamRecord], lanes: int) -> bool:
        split: list[list[StreamRecord]] = [[] for _ in range(lanes)]
        for record in records:
            digest = hashlib.md5(record.partition_key.encode(), usedforsecurity=False).digest()
            split[int.from_bytes(digest[:8], "big") % lanes].append(record)
        results: list[bool] = []

        async def run_lane(lane: list[StreamRecord]) -> None:
            results.append(await self._lane(shard, lane, checkpoint_each=False))

        async with trio.open_nursery() as nursery:
            for lane in split:
                if lane:
                    nursery.start_soon(run_lane, lane)
        return all(results)

    async def _lane(
        self, shard: str, records: list[StreamRecord], *, checkpoint_each: bool
    ) -> bool:
        size = self.mapping.batch_size
        start = 0
        while start < len(records):
            batch = records[start : start + size]
            handled = await self._batch(shard, batch)
            start += handled
            if handled and checkpoint_each:
                self._checkpoint(shard, records[start - 1])
            if handled < len(batch):
                return False  # stopping
        return True

    # -- a batch ---------------------------------------------------------------------------

    def _too_old(self, batch: Sequence[StreamRecord]) -> bool:
        limit = self.mapping.max_record_age_s
        if limit < 0:
            return False
        return self.clock() - batch[0].arrival_s > limit * self.time_scale

    async def _batch(
        self,
        shard: str,
        batch: list[StreamRecord],
        window: Window | None = None,
        *,
        count_filtered: bool = True,
    ) -> int:
        """Handle `batch` (succeed, skip, or give up); how many of its records were handled
        from its start (fewer than all only when stopping). Records filtered out are counted
        on the batch's first pass (`count_filtered`; not again for a retry or a half)."""
        mapping = self.mapping
        handled = 0
        retries = 0
        invokes = 0
        throttles = 0
        last_error: tuple[str | None, str | None, str | None] = (None, None, None)
        while batch:
            if self.stopping:
                return handled
            if self._too_old(batch):
                await self._give_up(shard, batch, RECORD_AGE_EXCEEDED, invokes, last_error)
                return handled + len(batch)
            events = [self._event_record(shard, r) for r in batch]
            kept = (
                [e for e in events if self.criteria.matches(kinesis_filter_document(e))]
                if self.criteria.patterns
                else events
            )
            if count_filtered:
                self._count(FILTERED, len(events) - len(kept))
                count_filtered = False
            if not kept:
                return handled + len(batch)
            self.observer.iterator_age(
                mapping.uuid, mapping.function_name, max(self.clock() - batch[-1].arrival_s, 0.0)
            )
            outcome = await attempt(
                self.invoker,
                function=mapping.function_name,
                qualifier=mapping.qualifier,
                event=self._event(shard, kept, window),
                batch_ids=[r.sequence_number for r in batch],
                report_failures=REPORT_BATCH_ITEM_FAILURES in mapping.function_response_types,
            )
            if outcome.result is not None:
                invokes += 1
                self._count(INVOKED, len(kept))
                last_error = (
                    outcome.result.request_id,
                    outcome.result.outcome.function_error,
                    outcome.result.executed_version,
                )
            verdict = outcome.verdict
            if isinstance(verdict, AllFailed):
                self._count(FAILED, len(kept))
            elif isinstance(verdict, SomeFailed):
                self._count(FAILED, len(verdict.ids))
            if isinstance(verdict, SomeFailed):
                lowest = min(verdict.ids, key=int)
                index = next(i for i, r in enumerate(batch) if r.sequence_number == lowest)
                if index > 0:  # checkpoint before the lowest failure; retry from there
                    handled += index
                    batch = batch[index:]
            elif not isinstance(verdict, AllFailed):
                self._set_report(OK)
                if window is not None and outcome.result is not None:
                    window.take_state(outcome.result.outcome.payload)
                return handled + len(batch)
            self._set_report(PROBLEM)
            if outcome.throttled:  # before the function ran: retried until the records expire
                throttles += 1
                await self._pause(min(RETRY_BASE_S * 2**throttles, RETRY_CAP_S))
                continue
            if isinstance(verdict, AllFailed) and mapping.bisect_on_error and len(batch) > 1:
                half = len(batch) // 2
                first = await self._batch(shard, batch[:half], window, count_filtered=False)
                if first < half:
                    return handled + first
                rest = await self._batch(shard, batch[half:], window, count_filtered=False)
                return handled + half + rest
            retries += 1
            if 0 <= mapping.max_retry_attempts < retries:
                await self._give_up(shard, batch, RETRIES_EXHAUSTED, invokes, last_error)
                return handled + len(batch)
            await self._pause(min(RETRY_BASE_S * 2**retries, RETRY_CAP_S))
        return handled

    def _event(
        self, shard: str, records: list[dict[str, object]], window: Window | None
    ) -> dict[str, object]:
        if window is None:
            return {"Records": records}
        envelope = window.envelope(shard_id=shard, stream_arn=self.mapping.source_arn, final=False)
        return {"Records": records, **envelope}

    def _identity(self) -> str:
        if isinstance(self.identity_arn, str):
            return self.identity_arn
        try:
            return self.identity_arn()
        except Exception:  # the function is gone for now: its batches fail and are retried
            return ""

    def _event_record(self, shard: str, record: StreamRecord) -> dict[str, object]:
        return kinesis_record(
            record,
            shard_id=shard,
            stream_arn=self.mapping.source_arn,
            region=self.region,
            identity_arn=self._identity(),
        )

    async def _give_up(
        self,
        shard: str,
        batch: list[StreamRecord],
        condition: str,
        invokes: int,
        last: tuple[str | None, str | None, str | None],
    ) -> None:
        destination = self.mapping.on_failure
        self._count(DROPPED, len(batch))
        logger.info(
            "event source mapping %s: %d records of %s given up (%s)",
            self.mapping.uuid,
            len(batch),
            shard,
            condition,
        )
        if not destination or self.queues is None:
            return
        request_id, function_error, executed_version = last
        body = failure_record(
            batch=batch,
            shard_id=shard,
            stream_arn=self.mapping.source_arn,
            function_arn=self.function_arn,
            condition=condition,
            attempts=invokes,
            request_id=request_id,
            function_error=function_error,
            executed_version=executed_version,
            now_s=self.clock(),
        )
        try:
            await self.queues.send_message(destination, body)
        except Exception as exc:  # a destination that is gone: logged, the shard moves on
            logger.warning(
                "event source mapping %s: OnFailure to %s failed: %s",
                self.mapping.uuid,
                destination,
                exc,
            )


def _in_window(records: list[StreamRecord], start: float, length: int) -> list[StreamRecord]:
    """The leading records of the window starting at `start` (at least the first record: one
    stamped before its window goes with it)."""
    count = 1
    while count < len(records) and window_of(records[count].arrival_s, length)[0] == start:
        count += 1
    return records[:count]
