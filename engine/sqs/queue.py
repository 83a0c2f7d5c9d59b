"""One queue's working state in memory: ready messages, messages in flight, FIFO groups, timers.

Pure: every method takes the time (`now_ms`) and returns what changed; the service persists
it and wakes long polls. Rules:

- A message is *ready* when it is not in flight and its `visible_at_ms` has passed (delays
  and visibility timeouts both set `visible_at_ms`). A standard queue hands out ready messages
  in the order they became ready; a FIFO queue hands out, group by group, the leading ready
  messages of a group that has nothing in flight (one in-flight batch per group).
- Every future `visible_at_ms` is a timer; `advance(now_ms)` fires the due ones. A timer
  carries the message's `generation`, so a superseded one (the message was received again,
  deleted, its visibility changed) is skipped rather than searched for and removed.
- A receive finds a message already received `maxReceiveCount` times: instead of handing it
  out, it returns it as dead-lettered; the service moves it to the dead-letter queue.
- A message older than the retention period goes away (`advance`), as do dedup ids after
  their five minutes.
"""

from __future__ import annotations

import heapq
from collections import OrderedDict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field

from engine.sqs.fifo import DedupEntry
from engine.sqs.message import Message, new_receipt
from engine.sqs.queue_attributes import QueueSettings


@dataclass(slots=True)
class Group:
    """A FIFO message group: its messages in order, and how many of them are in flight."""

    messages: deque[Message] = field(default_factory=deque)
    inflight: int = 0


@dataclass(frozen=True, slots=True)
class Received:
    messages: list[Message]
    dead_lettered: list[Message]  # to move to the dead-letter queue


class Queue:
    def __init__(
        self,
        *,
        name: str,
        arn: str,
        attributes: dict[str, str],
        settings: QueueSettings,
        tags: dict[str, str],
        created_ms: int,
        modified_ms: int,
    ) -> None:
        self.name = name
        self.arn = arn
        self.attributes = attributes
        self.settings = settings
        self.tags = tags
        self.created_ms = created_ms
        self.modified_ms = modified_ms
        self.last_purge_ms = 0
        self.messages: dict[str, Message] = {}  # in send order: the oldest first
        self._ready: deque[Message] = deque()  # standard queues
        self.groups: OrderedDict[str, Group] = OrderedDict()  # FIFO queues
        self._timers: list[tuple[int, int, int, Message]] = []  # (at, seq, generation, msg)
        self.dedup: OrderedDict[tuple[str, str], DedupEntry] = OrderedDict()

    @property
    def fifo(self) -> bool:
        return self.settings.fifo

    # --- adding -----------------------------------------------------------------------------

    def add(self, message: Message, now_ms: int) -> bool:
        """Enqueue `message` (kept in send order); True if it is ready now."""
        self.messages[message.id] = message
        if self.fifo:
            group = self.groups.get(message.group_id or "")
            if group is None:
                group = self.groups[message.group_id or ""] = Group()
            group.messages.append(message)
        if message.visible_at_ms <= now_ms and not message.inflight:
            if not self.fifo:
                self._ready.append(message)
            return True
        self._schedule(message)
        return False

    def _schedule(self, message: Message) -> None:
        message.generation += 1
        entry = (message.visible_at_ms, message.seq, message.generation, message)
        heapq.heappush(self._timers, entry)

    # --- receiving --------------------------------------------------------------------------

    def receive(
        self, now_ms: int, count: int, visibility_s: int, *, max_receives: int = 0
    ) -> Received:
        """Up to `count` ready messages, now in flight for `visibility_s`; those received
        `max_receives` times already (if not 0) are dead-lettered instead."""
        self.advance(now_ms)
        taken: list[Message] = []
        dead: list[Message] = []
        for message in self._candidates(now_ms, count, max_receives, dead):
            message.receive_count += 1
            if message.receive_count == 1:
                message.first_receive_ms = now_ms
            message.inflight = True
            message.receipt = new_receipt()
            message.visible_at_ms = now_ms + visibility_s * 1000
            self._schedule(message)
            taken.append(message)
        for message in taken:
            if self.fifo:
                self.groups[message.group_id or ""].inflight += 1
        return Received(taken, dead)

    def _candidates(
        self, now_ms: int, count: int, limit: int, dead: list[Message]
    ) -> Iterator[Message]:
        if not self.fifo:
            given = 0
            while given < count and self._ready:
                message = self._ready.popleft()
                if self.messages.get(message.id) is not message or message.inflight:
                    continue  # deleted, or handed out since it was queued here
                if limit and message.receive_count >= limit:
                    self._remove(message)
                    dead.append(message)
                    continue
                given += 1
                yield message
            return
        given = 0
        for key in list(self.groups):
            if given >= count:
                return
            group = self.groups[key]
            if group.inflight:
                continue
            picked = 0
            for message in list(group.messages):
                if given >= count or message.pending or message.visible_at_ms > now_ms:
                    break
                if limit and message.receive_count >= limit:
                    self._remove(message)
                    dead.append(message)
                    continue
                given += 1
                picked += 1
                yield message
            if picked and key in self.groups:
                self.groups.move_to_end(key)  # other groups go first next time

    # --- deleting and visibility ------------------------------------------------------------

    def delete(self, message_id: str) -> Message | None:
        message = self.messages.get(message_id)
        if message is not None:
            self._remove(message)
        return message

    def _remove(self, message: Message) -> None:
        del self.messages[message.id]
        message.generation += 1  # its timer, if any, is now stale
        if self.fifo:
            key = message.group_id or ""
            group = self.groups[key]
            group.messages.remove(message)
            if message.inflight:
                group.inflight -= 1
            if not group.messages:
                del self.groups[key]
        message.inflight = False

    def change_visibility(self, message: Message, now_ms: int, visibility_s: int) -> bool:
        """Move an in-flight message's deadline; True if it is ready now (a timeout of 0)."""
        message.visible_at_ms = now_ms + visibility_s * 1000
        if visibility_s == 0:
            self._release(message)
            return True
        self._schedule(message)
        return False

    def _release(self, message: Message) -> None:
        """An in-flight message becomes ready again."""
        message.generation += 1
        if message.inflight:
            message.inflight = False
            if self.fifo:
                self.groups[message.group_id or ""].inflight -= 1
        if not self.fifo:
            self._ready.append(message)

    def purge(self) -> list[Message]:
        gone = list(self.messages.values())
        for message in gone:
            message.generation += 1
        self.messages.clear()
        self._ready.clear()
        self.groups.clear()
        self._timers.clear()
        return gone

    # --- time -------------------------------------------------------------------------------

    def advance(self, now_ms: int) -> tuple[bool, list[Message]]:
        """Fire due timers and retention: (whether a message became ready, expired messages)."""
        woke = False
        timers = self._timers
        while timers and timers[0][0] <= now_ms:
            _, _, generation, message = heapq.heappop(timers)
            if generation != message.generation or self.messages.get(message.id) is not message:
                continue
            self._release(message)
            woke = True
        expired: list[Message] = []
        horizon = now_ms - self.settings.retention_s * 1000
        while self.messages:
            oldest = next(iter(self.messages.values()))
            if oldest.sent_ms > horizon:
                break
            self._remove(oldest)
            expired.append(oldest)
        while self.dedup:
            key, entry = next(iter(self.dedup.items()))
            if entry.expires_ms > now_ms:
                break
            del self.dedup[key]
        return woke, expired

    def next_deadline(self) -> int | None:
        """When `advance` next has something to do (None: nothing until a change)."""
        timers = self._timers
        while timers and (
            timers[0][2] != timers[0][3].generation
            or self.messages.get(timers[0][3].id) is not timers[0][3]
        ):
            heapq.heappop(timers)
        candidates = []
        if timers:
            candidates.append(timers[0][0])
        if self.messages:
            oldest = next(iter(self.messages.values()))
            candidates.append(oldest.sent_ms + self.settings.retention_s * 1000)
        if self.dedup:
            candidates.append(next(iter(self.dedup.values())).expires_ms)
        return min(candidates) if candidates else None

    # --- counting ---------------------------------------------------------------------------

    def counts(self, now_ms: int) -> tuple[int, int, int]:
        """(visible, in flight, delayed) messages, as the Approximate… attributes report."""
        visible = inflight = delayed = 0
        for message in self.messages.values():
            if message.inflight:
                inflight += 1
            elif message.visible_at_ms > now_ms:
                delayed += 1
            else:
                visible += 1
        return visible, inflight, delayed
