"""An SQS event source mapping at work: receive batches, filter, invoke, delete what succeeded.

As Lambda's pollers (Developer Guide, "Using Lambda with Amazon SQS"):
- a batch is up to `BatchSize` messages, sent when it is full, when the batching window has
  passed since its first message (window 0: what one long poll returns, at most 10), or when
  its event would pass the 6 MB invoke limit (messages past it go back to the queue at once);
- the function is invoked synchronously; on success the batch is deleted; on a function error
  or a throttle nothing is deleted and the messages come back after the queue's visibility
  timeout (where the queue's redrive policy moves poison messages on); with
  `ReportBatchItemFailures`, only the named messages stay;
- messages that match none of the mapping's filters are deleted without an invoke;
- FIFO queues hand a message group to one consumer at a time (the queue service's rule), so a
  group's messages are processed in order, one batch at a time.

Scaling: one worker long-polls while the queue is idle (a long poll costs nothing: the queue
wakes it). A worker whose batch came back full starts another, up to the mapping's
`ScalingConfig.MaximumConcurrency` (else `MAX_WORKERS`); an extra worker that finds the queue
empty stops. Stopping (disable, update, delete) cancels the long polls at once and lets
batches under way finish.
"""

from __future__ import annotations

import json
import logging
import math
from typing import Final

import trio

from engine.model.event_filters import FilterCriteria, parse_filter_criteria, sqs_filter_document
from engine.model.event_source_mapping import EventSourceMapping
from engine.sources.batch_response import AllFailed, SomeFailed
from engine.sources.invoking import REPORT_BATCH_ITEM_FAILURES, FunctionInvoker, attempt
from engine.sources.observer import (
    DELETED,
    FAILED,
    FILTERED,
    INVOKED,
    NO_OBSERVER,
    POLLED,
    SourceObserver,
)
from engine.sources.sqs_records import sqs_record
from engine.sqs.errors import SqsError
from engine.sqs.message import Message
from engine.sqs.queue import Queue
from engine.sqs.service import QueueService

logger = logging.getLogger(__name__)

MAX_RECEIVE: Final = 10  # SQS's most messages per receive
LONG_POLL_S: Final = 20
MAX_WORKERS: Final = 1000  # Lambda's most concurrent batches per SQS mapping
MAX_EVENT_BYTES: Final = 6 * 1024 * 1024 - 4096  # the sync invoke limit, less the envelope
THROTTLE_BACKOFF_S: Final = (1.0, 2.0, 5.0)
MISSING_QUEUE_BACKOFF_S: Final = 5.0


class SqsPoller:
    def __init__(
        self,
        mapping: EventSourceMapping,
        *,
        queues: QueueService,
        invoker: FunctionInvoker,
        region: str,
        observer: SourceObserver = NO_OBSERVER,
    ) -> None:
        self.mapping = mapping
        self.queues = queues
        self.invoker = invoker
        self.region = region
        self.observer = observer
        self.criteria: FilterCriteria = parse_filter_criteria(mapping.filters)
        self.max_workers = mapping.max_concurrency or MAX_WORKERS
        self.workers = 0
        self.stopping = False
        self._polls: set[trio.CancelScope] = set()
        self._nursery: trio.Nursery | None = None
        self._throttles = 0

    async def run(self) -> None:
        """Poll until `stop`; returns once every batch under way has finished."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self._start_worker(permanent=True)

    def stop(self) -> None:
        self.stopping = True
        for scope in list(self._polls):
            scope.cancel()

    # -- workers ---------------------------------------------------------------------------

    def _start_worker(self, *, permanent: bool) -> None:
        assert self._nursery is not None
        self.workers += 1
        self._nursery.start_soon(self._worker, permanent)

    async def _worker(self, permanent: bool) -> None:
        try:
            while not self.stopping:
                try:
                    queue = self.queues.catalog.get_by_arn(self.mapping.source_arn)
                except SqsError:
                    if not permanent:
                        return
                    await self._pause(MISSING_QUEUE_BACKOFF_S)
                    continue
                batch = await self._collect(queue)
                if not batch:
                    if permanent:
                        continue
                    return
                if len(batch) >= min(self.mapping.batch_size, MAX_RECEIVE) and (
                    self.workers < self.max_workers and not self.stopping
                ):
                    self._start_worker(permanent=False)
                await self._process(queue, batch)
        finally:
            self.workers -= 1

    async def _pause(self, seconds: float) -> None:
        if self.stopping:
            return
        with trio.CancelScope() as scope:
            self._polls.add(scope)
            try:
                await trio.sleep(seconds)
            finally:
                self._polls.discard(scope)

    # -- one batch -------------------------------------------------------------------------

    async def _receive(self, queue: Queue, count: int, deadline: float) -> list[Message]:
        """One long poll, cut short by `deadline` or by `stop` (nothing is taken then)."""
        if self.stopping:
            return []
        with trio.CancelScope(deadline=deadline) as scope:
            self._polls.add(scope)
            try:
                return await self.queues.receive(
                    queue, count=count, visibility_s=None, wait_s=LONG_POLL_S
                )
            finally:
                self._polls.discard(scope)
        return []

    async def _collect(self, queue: Queue) -> list[Message]:
        size = self.mapping.batch_size
        first = await self._receive(queue, min(size, MAX_RECEIVE), math.inf)
        if not first or self.mapping.max_batching_window_s <= 0:
            return first
        batch = first
        deadline = trio.current_time() + self.mapping.max_batching_window_s
        while len(batch) < size and trio.current_time() < deadline and not self.stopping:
            if _event_bytes(batch, queue) >= MAX_EVENT_BYTES:
                break
            more = await self._receive(queue, min(size - len(batch), MAX_RECEIVE), deadline)
            # A message whose visibility ran out while the window gathered comes again: once
            # in the batch (its latest receipt is the one the record carries).
            seen = {message.id for message in batch}
            batch += [message for message in more if message.id not in seen]
        return batch

    def _count(self, outcome: str, count: int) -> None:
        if count:
            self.observer.events(self.mapping.uuid, self.mapping.function_name, outcome, count)

    async def _process(self, queue: Queue, batch: list[Message]) -> None:
        records = [self._record(queue, message) for message in batch]
        records, returned = _within_limit(records)
        self._count(POLLED, len(records))  # those returned are polled again
        if returned:  # past the invoke limit: back to the queue at once, for the next batch
            for record in returned:
                self._release(queue, record["receiptHandle"])
        if self.criteria.patterns:
            kept: list[dict[str, object]] = []
            dropped: list[str] = []
            for record in records:
                document = sqs_filter_document(record)
                if document is not None and self.criteria.matches(document):
                    kept.append(record)
                else:
                    dropped.append(str(record["receiptHandle"]))
            if dropped:  # filtered out: deleted, as Lambda deletes them
                self._count(FILTERED, len(dropped))
                await self.queues.delete(queue, dropped)
            records = kept
        if not records:
            return
        ids = [str(r["messageId"]) for r in records]
        outcome = await attempt(
            self.invoker,
            function=self.mapping.function_name,
            qualifier=self.mapping.qualifier,
            event={"Records": records},
            batch_ids=ids,
            report_failures=REPORT_BATCH_ITEM_FAILURES in self.mapping.function_response_types,
        )
        verdict = outcome.verdict
        if outcome.result is not None:
            self._count(INVOKED, len(records))
        if isinstance(verdict, AllFailed):
            self._count(FAILED, len(records))
            if outcome.throttled:
                step = min(self._throttles, len(THROTTLE_BACKOFF_S) - 1)
                self._throttles += 1
                await self._pause(THROTTLE_BACKOFF_S[step])
            return  # visible again after the queue's visibility timeout
        self._throttles = 0
        failed = set(verdict.ids) if isinstance(verdict, SomeFailed) else set()
        done = [str(r["receiptHandle"]) for r in records if r["messageId"] not in failed]
        self._count(FAILED, len(records) - len(done))
        if done:
            await self.queues.delete(queue, done)
            self._count(DELETED, len(done))

    def _record(self, queue: Queue, message: Message) -> dict[str, object]:
        return sqs_record(
            message,
            queue_name=queue.name,
            queue_arn=queue.arn,
            region=self.region,
            fifo=queue.fifo,
        )

    def _release(self, queue: Queue, handle: object) -> None:
        try:
            self.queues.change_visibility(queue, str(handle), 0)
        except SqsError as exc:
            logger.info("could not return a message to %s: %s", queue.name, exc)


def _event_bytes(batch: list[Message], queue: Queue) -> int:
    # the body and attributes dominate; each record's envelope is under 1 KB
    return sum(len(m.body.encode()) + 1024 for m in batch)


def _within_limit(
    records: list[dict[str, object]],
) -> tuple[list[dict[str, object]], list[dict[str, object]]]:
    """The records whose event fits in one invoke, and those that do not."""
    total = len('{"Records":[]}')
    for n, record in enumerate(records):
        total += len(json.dumps(record, separators=(",", ":")).encode()) + 1
        if total > MAX_EVENT_BYTES and n > 0:
            return records[:n], records[n:]
    return records, []
