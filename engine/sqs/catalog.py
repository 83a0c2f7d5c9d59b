"""The queues themselves: create, find, list, delete, attributes and tags, persisted.

Holds every `Queue` by name and by ARN; what happens to messages is `engine.sqs.service`'s.
Each change is committed before it is answered.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from engine.journal.journal import Journal
from engine.model.arns import ACCOUNT_ID
from engine.sqs import store
from engine.sqs.errors import (
    InvalidAttributeName,
    InvalidParameterValue,
    QueueDoesNotExist,
    QueueNameExists,
)
from engine.sqs.queue import Queue
from engine.sqs.queue_attributes import (
    COMPUTED,
    SETTABLE,
    check_queue_name,
    conflicting,
    new_attributes,
    settings_of,
    updated_attributes,
)

MAX_TAGS: Final = 50


def queue_arn(region: str, name: str) -> str:
    return f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{name}"


class QueueCatalog:
    def __init__(self, journal: Journal, *, region: str, now_ms: Callable[[], int]) -> None:
        self.journal = journal
        self.region = region
        self.now_ms = now_ms
        self.by_name: dict[str, Queue] = {}
        self.by_arn: dict[str, Queue] = {}
        # Called after a queue's settings change or it is deleted (the service wakes waiters).
        self.on_change: Callable[[Queue], None] = lambda queue: None

    # --- finding ----------------------------------------------------------------------------

    def get(self, name: str) -> Queue:
        queue = self.by_name.get(name)
        if queue is None:
            raise QueueDoesNotExist()
        return queue

    def get_by_arn(self, arn: str) -> Queue:
        queue = self.by_arn.get(arn)
        if queue is None:
            raise QueueDoesNotExist()
        return queue

    def names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self.by_name if n.startswith(prefix))

    def dead_letter_sources(self, arn: str) -> list[str]:
        return sorted(
            q.name
            for q in self.by_name.values()
            if q.settings.redrive is not None and q.settings.redrive.dead_letter_arn == arn
        )

    # --- changing ---------------------------------------------------------------------------

    def restore(self, row: store.QueueRow) -> Queue:
        queue = Queue(
            name=row.name,
            arn=queue_arn(self.region, row.name),
            attributes=row.attributes,
            settings=settings_of(row.attributes),
            tags=row.tags,
            created_ms=row.created_ms,
            modified_ms=row.modified_ms,
        )
        self.by_name[queue.name] = queue
        self.by_arn[queue.arn] = queue
        return queue

    async def create(
        self, name: str, attributes: Mapping[str, Any], tags: Mapping[str, Any]
    ) -> Queue:
        """The queue `name`, created; an existing one if the attributes given agree with it."""
        fifo = check_queue_name(name, {k: str(v) for k, v in attributes.items()})
        existing = self.by_name.get(name)
        if existing is not None:
            differing = conflicting(existing.attributes, existing.fifo, attributes)
            if differing is not None:
                raise QueueNameExists(
                    "A queue already exists with the same name and a different value for "
                    f"attribute {differing}"
                )
            return existing
        values = new_attributes(fifo, attributes)
        self._check_redrive(values, fifo)
        checked_tags = _checked_tags(tags)
        now = self.now_ms() // 1000 * 1000  # AWS shows these in whole seconds
        row = store.QueueRow(name, values, checked_tags, now, now)
        await self.journal.commit(store.put_queue(row))
        if name in self.by_name:  # created meanwhile by a concurrent request
            return self.by_name[name]
        return self.restore(row)

    async def delete(self, queue: Queue) -> None:
        await self.journal.commit(store.delete_queue(queue.name))
        if self.by_name.get(queue.name) is queue:
            del self.by_name[queue.name]
            del self.by_arn[queue.arn]
        queue.purge()
        self.on_change(queue)

    async def set_attributes(self, queue: Queue, given: Mapping[str, Any]) -> None:
        values = updated_attributes(queue.attributes, queue.fifo, given)
        self._check_redrive(values, queue.fifo)
        now = self.now_ms() // 1000 * 1000
        await self.journal.commit(store.put_queue(self._row(queue, values, queue.tags, now)))
        queue.attributes = values
        queue.settings = settings_of(values)
        queue.modified_ms = now
        self.on_change(queue)

    async def tag(self, queue: Queue, tags: Mapping[str, Any]) -> None:
        merged = _checked_tags({**queue.tags, **tags})
        await self._save_tags(queue, merged)

    async def untag(self, queue: Queue, keys: Iterable[str]) -> None:
        drop = set(keys)
        await self._save_tags(queue, {k: v for k, v in queue.tags.items() if k not in drop})

    async def _save_tags(self, queue: Queue, tags: dict[str, str]) -> None:
        row = self._row(queue, queue.attributes, tags, queue.modified_ms)
        await self.journal.commit(store.put_queue(row))
        queue.tags = tags

    @staticmethod
    def _row(
        queue: Queue, attributes: dict[str, str], tags: dict[str, str], modified_ms: int
    ) -> store.QueueRow:
        return store.QueueRow(queue.name, attributes, tags, queue.created_ms, modified_ms)

    def _check_redrive(self, values: Mapping[str, str], fifo: bool) -> None:
        policy = values.get("RedrivePolicy")
        if not policy:
            return
        target = self.by_arn.get(json.loads(policy)["deadLetterTargetArn"])
        if target is None:
            raise InvalidParameterValue(
                f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead letter "
                "target does not exist."
            )
        if target.fifo != fifo:
            raise InvalidParameterValue(
                f"Value {policy} for parameter RedrivePolicy is invalid. Reason: Dead-letter "
                "queue must be same type of queue as the source.."
            )

    # --- showing ----------------------------------------------------------------------------

    def attributes(self, queue: Queue, names: Iterable[str]) -> dict[str, str]:
        """GetQueueAttributes: the named attributes (``All``: every one), as strings."""
        wanted = list(names)
        for name in wanted:
            if name != "All" and name not in SETTABLE and name not in COMPUTED:
                raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if not wanted:
            return {}
        visible, inflight, delayed = queue.counts(self.now_ms())
        values = {
            "QueueArn": queue.arn,
            "ApproximateNumberOfMessages": str(visible),
            "ApproximateNumberOfMessagesNotVisible": str(inflight),
            "ApproximateNumberOfMessagesDelayed": str(delayed),
            "CreatedTimestamp": str(queue.created_ms // 1000),
            "LastModifiedTimestamp": str(queue.modified_ms // 1000),
            **queue.attributes,
        }
        if "All" in wanted:
            return values
        return {n: values[n] for n in wanted if n in values}


def _checked_tags(tags: Mapping[str, Any]) -> dict[str, str]:
    if len(tags) > MAX_TAGS:
        raise InvalidParameterValue(
            f"Too many tags added for queue. You can have up to {MAX_TAGS} tags."
        )
    out: dict[str, str] = {}
    for key, value in tags.items():
        if not isinstance(value, str) or not key or len(key) > 128 or len(value) > 256:
            raise InvalidParameterValue(f"Tag {key} is invalid.")
        out[key] = value
    return out
