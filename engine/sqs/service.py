"""The SQS service: sends, receives with long polls, deletes, visibility, dead letters, timers.

`open_queues` opens ``queues.sqlite3`` in the state directory, loads every queue and message
into memory and runs, in its nursery, the journal's writer and one timer task. The timer
sleeps until the earliest deadline of any queue (a delay or a visibility timeout ending, a
message's retention, a dedup id's five minutes) and is woken when an earlier one appears: an
idle service wakes for nothing. A long poll waits on its queue's event, set by anything that
makes a message ready there. Cleanup: leaving `open_queues` cancels both tasks; the writer
commits what is queued before it closes the file.
"""

from __future__ import annotations

import heapq
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Final

import trio

from engine.journal.journal import Journal
from engine.model.arns import ACCOUNT_ID
from engine.sqs import store
from engine.sqs.catalog import QueueCatalog
from engine.sqs.errors import (
    MessageNotInflight,
    PurgeQueueInProgress,
    ReceiptHandleIsInvalid,
    SqsError,
    invalid_value,
)
from engine.sqs.fifo import DEDUP_WINDOW_MS, DedupEntry, dedup_key
from engine.sqs.md5 import md5_of_attributes, md5_of_body
from engine.sqs.message import SEQUENCE_BASE, Message, parse_receipt_handle
from engine.sqs.message_attributes import parse_message_attributes
from engine.sqs.queue import Queue
from engine.sqs.sending import (
    SendRequest,
    SendResult,
    build_message,
    fill_digests,
    prepare,
    result_of,
)

logger = logging.getLogger(__name__)

MAX_VISIBILITY_S: Final = 43_200


class QueueService:
    def __init__(
        self, journal: Journal, *, region: str, clock: Callable[[], float] = time.time
    ) -> None:
        self.journal = journal
        self.region = region
        self.clock = clock
        self.catalog = QueueCatalog(journal, region=region, now_ms=self.now_ms)
        self.catalog.on_change = self._changed
        self._seq = 0
        self._waiters: dict[str, trio.Event] = {}
        self._deadlines: list[tuple[int, str]] = []
        self._scheduled: dict[str, int] = {}
        self._timer_wake = trio.Event()

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _next_seq(self) -> int:
        # Increasing across restarts: at least the clock in µs, at least one past the last.
        self._seq = max(self._seq + 1, int(self.clock() * 1_000_000))
        return self._seq

    # --- the interface the rest of the engine uses ------------------------------------------

    def queue_exists(self, arn: str) -> bool:
        return arn in self.catalog.by_arn

    def is_fifo(self, arn: str) -> bool:
        queue = self.catalog.by_arn.get(arn)
        return queue is not None and queue.fifo

    async def send_message(
        self, queue_arn: str, body: str, attributes: dict[str, dict[str, str]] | None = None
    ) -> str:
        """Send to the queue `queue_arn`; the message id, once the message is on disk."""
        queue = self.catalog.get_by_arn(queue_arn)
        request = SendRequest(body=body, attributes=parse_message_attributes(attributes))
        if queue.fifo:  # a destination's record: one group, deduplicated by content
            request = SendRequest(
                body=body,
                attributes=request.attributes,
                group_id="lambdalet",
                dedup_id=uuid.uuid4().hex,
            )
        (result,) = await self.send(queue, [request])
        if isinstance(result, SqsError):
            raise result
        return result.message_id

    # --- loading ----------------------------------------------------------------------------

    def load(self, snapshot: store.Snapshot) -> None:
        now = self.now_ms()
        for row in snapshot.queues:
            self.catalog.restore(row)
        for message_row in snapshot.messages:
            queue = self.catalog.by_name.get(message_row.queue)
            if queue is None:
                continue
            message = message_row.message
            fill_digests(message)
            self._seq = max(self._seq, message.seq)
            queue.add(message, now)
        for dedup in snapshot.dedup:
            queue = self.catalog.by_name.get(dedup.queue)
            if queue is not None:
                queue.dedup[dedup.key] = DedupEntry(dedup.message_id, dedup.seq, dedup.expires_ms)
            self._seq = max(self._seq, dedup.seq)
        for queue in self.catalog.by_name.values():
            self._reschedule(queue)

    # --- sending ----------------------------------------------------------------------------

    async def send(self, queue: Queue, requests: list[SendRequest]) -> list[SendResult | SqsError]:
        """Send each request; a request that breaks a rule gets its error, the rest are
        committed together and answered once on disk."""
        now = self.now_ms()
        results: list[SendResult | SqsError] = []
        fresh: list[Message] = []
        dedup_rows: list[store.DedupRow] = []
        for request in requests:
            try:
                fields = prepare(queue.settings, request)
            except SqsError as exc:
                results.append(exc)
                continue
            key = dedup_key(queue.settings, fields)
            seen = queue.dedup.get(key) if key is not None else None
            if seen is not None:
                results.append(_duplicate(request, seen))
                continue
            message = build_message(
                queue.settings,
                request,
                fields,
                message_id=str(uuid.uuid4()),
                seq=self._next_seq(),
                now_ms=now,
                sender_id=ACCOUNT_ID,
            )
            if key is not None:
                entry = DedupEntry(message.id, message.seq, now + DEDUP_WINDOW_MS)
                queue.dedup[key] = entry
                dedup_rows.append(
                    store.DedupRow(queue.name, key, entry.message_id, entry.seq, entry.expires_ms)
                )
            fresh.append(message)
            results.append(result_of(message, fifo=queue.fifo))
        if not fresh:
            return results
        if queue.fifo:  # enqueued now, in order, held back until committed
            for message in fresh:
                message.pending = True
                queue.add(message, now)
        try:
            await self.journal.commit(store.insert_messages(queue.name, fresh, dedup_rows))
        except BaseException:
            for message in fresh:
                queue.delete(message.id)
            for row in dedup_rows:
                queue.dedup.pop(row.key, None)
            raise
        now = self.now_ms()
        ready = False
        for message in fresh:
            if queue.fifo:
                message.pending = False
                ready = ready or message.visible_at_ms <= now
            else:
                ready = queue.add(message, now) or ready
        if ready:
            self._wake(queue)
        self._reschedule(queue)
        return results

    # --- receiving --------------------------------------------------------------------------

    async def receive(
        self, queue: Queue, *, count: int, visibility_s: int | None, wait_s: int | None
    ) -> list[Message]:
        """Up to `count` messages, waiting up to `wait_s` (the queue's wait if None) for one."""
        wait = queue.settings.wait_s if wait_s is None else wait_s
        deadline = trio.current_time() + wait
        while True:
            taken = self._take(queue, count, visibility_s)
            if taken or trio.current_time() >= deadline or self._gone(queue):
                return taken
            event = self._waiters.get(queue.name)
            if event is None:
                event = self._waiters[queue.name] = trio.Event()
            with trio.move_on_at(deadline):
                await event.wait()

    def _gone(self, queue: Queue) -> bool:
        return self.catalog.by_name.get(queue.name) is not queue

    def _take(self, queue: Queue, count: int, visibility_s: int | None) -> list[Message]:
        now = self.now_ms()
        vt = queue.settings.visibility_s if visibility_s is None else visibility_s
        redrive = queue.settings.redrive
        target = self.catalog.by_arn.get(redrive.dead_letter_arn) if redrive else None
        limit = redrive.max_receive_count if redrive is not None and target is not None else 0
        received = queue.receive(now, count, vt, max_receives=limit)
        if received.dead_lettered and target is not None:
            self._dead_letter(queue, target, received.dead_lettered, now)
        if received.messages:
            self.journal.defer(store.update_receipts(received.messages))
            self._reschedule(queue)
        return received.messages

    def _dead_letter(self, source: Queue, target: Queue, messages: list[Message], now: int) -> None:
        for message in messages:
            message.source_arn = source.arn
            message.visible_at_ms = now
            message.receipt = ""
            message.seq = self._next_seq()
            target.add(message, now)
        self.journal.defer(store.move_messages(target.name, messages))
        self._wake(target)
        self._reschedule(target)

    # --- deleting and visibility ------------------------------------------------------------

    def _held(self, queue: Queue, handle: str) -> Message | None:
        """The message `handle` was issued for (None: already gone); errors as SQS's."""
        name, message_id, receipt = parse_receipt_handle(handle)
        if name != queue.name:
            raise ReceiptHandleIsInvalid(
                f'The input receipt handle "{handle}" is not a valid receipt handle.'
            )
        message = queue.messages.get(message_id)
        if message is None:
            return None
        if queue.fifo and (message.receipt != receipt or not message.inflight):
            raise invalid_value("ReceiptHandle", handle, "The receipt handle has expired.")
        return message if message.receipt == receipt else None

    async def delete(self, queue: Queue, handles: list[str]) -> list[SqsError | None]:
        """Delete each handle's message; per handle, None or its error."""
        outcomes: list[SqsError | None] = []
        gone: list[str] = []
        for handle in handles:
            try:
                message = self._held(queue, handle)
            except SqsError as exc:
                outcomes.append(exc)
                continue
            outcomes.append(None)
            if message is not None and queue.delete(message.id) is not None:
                gone.append(message.id)
        if gone:
            if queue.fifo:
                self._wake(queue)  # a group with nothing in flight may deliver again
            await self.journal.commit(store.delete_messages(gone))
        return outcomes

    def change_visibility(self, queue: Queue, handle: str, visibility_s: int) -> None:
        if not 0 <= visibility_s <= MAX_VISIBILITY_S:
            raise invalid_value(
                "VisibilityTimeout",
                visibility_s,
                f"Must be >= 0 and <= {MAX_VISIBILITY_S}, if provided.",
            )
        message = self._held(queue, handle)
        if message is None:
            raise invalid_value(
                "ReceiptHandle",
                handle,
                "Message does not exist or is not available for visibility timeout change.",
            )
        if not message.inflight:
            raise MessageNotInflight(
                f"Value {handle} for parameter ReceiptHandle is invalid. Reason: Message "
                "does not exist or is not available for visibility timeout change."
            )
        if queue.change_visibility(message, self.now_ms(), visibility_s):
            self._wake(queue)
        self.journal.defer(store.update_receipts([message]))
        self._reschedule(queue)

    async def purge(self, queue: Queue) -> None:
        now = self.now_ms()
        if now - queue.last_purge_ms < 60_000:
            raise PurgeQueueInProgress(
                f"Only one PurgeQueue operation on {queue.name} is allowed every 60 seconds."
            )
        queue.last_purge_ms = now
        await self.journal.commit(store.purge_messages(queue.name))
        queue.purge()

    # --- waking -----------------------------------------------------------------------------

    def _wake(self, queue: Queue) -> None:
        event = self._waiters.pop(queue.name, None)
        if event is not None:
            event.set()

    def _changed(self, queue: Queue) -> None:
        self._wake(queue)  # a deleted queue's long polls return; new settings apply
        self._reschedule(queue)

    def _reschedule(self, queue: Queue) -> None:
        at = queue.next_deadline()
        if at is None:
            return
        current = self._scheduled.get(queue.name)
        if current is not None and current <= at:
            return
        self._scheduled[queue.name] = at
        if not self._deadlines or at < self._deadlines[0][0]:
            self._timer_wake.set()
        heapq.heappush(self._deadlines, (at, queue.name))

    async def run_timer(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            now = self.now_ms()
            while self._deadlines and self._deadlines[0][0] <= now:
                at, name = heapq.heappop(self._deadlines)
                if self._scheduled.get(name) != at:
                    continue  # superseded by an earlier deadline, already handled
                del self._scheduled[name]
                queue = self.catalog.by_name.get(name)
                if queue is not None:
                    self._advance(queue, now)
            while (
                self._deadlines
                and self._scheduled.get(self._deadlines[0][1]) != (self._deadlines[0][0])
            ):
                heapq.heappop(self._deadlines)  # superseded: not worth waking for
            self._timer_wake = trio.Event()
            if not self._deadlines:
                await self._timer_wake.wait()
                continue
            with trio.move_on_after(max(0, self._deadlines[0][0] - now) / 1000):
                await self._timer_wake.wait()

    def _advance(self, queue: Queue, now: int) -> None:
        woke, expired = queue.advance(now)
        if woke:
            self._wake(queue)
        if expired:
            self.journal.defer(store.delete_messages(m.id for m in expired))
        self.journal.defer(store.expire_dedup(now))
        self._reschedule(queue)


def _duplicate(request: SendRequest, seen: DedupEntry) -> SendResult:
    return SendResult(
        message_id=seen.message_id,
        md5_body=md5_of_body(request.body),
        md5_attributes=md5_of_attributes(request.attributes) if request.attributes else None,
        md5_system=md5_of_attributes(request.system) if request.system else None,
        sequence_number=str(SEQUENCE_BASE + seen.seq),
    )


@asynccontextmanager
async def open_queues(
    state_dir: Path, *, region: str, clock: Callable[[], float] = time.time
) -> AsyncIterator[QueueService]:
    """The service over ``state_dir / "queues.sqlite3"``, loaded, with its writer and timer."""
    journal = Journal(state_dir / "queues.sqlite3", store.SCHEMA)
    service = QueueService(journal, region=region, clock=clock)
    try:
        service.load(journal.read(store.load))
    except BaseException:
        journal.close()
        raise
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        await nursery.start(service.run_timer)
        try:
            yield service
        finally:
            nursery.cancel_scope.cancel()
