"""The queues' SQLite file: its schema, the changes the service commits, and the start-up load.

Each change is a function of a connection, run by the journal's writer thread inside a batch
transaction. Sends, deletes, queue changes and dead-letter moves are awaited commits (or,
for moves, deferred: a move lost in a crash leaves the message in its source queue);
receive bookkeeping is deferred, so after a crash a message may reappear, never vanish.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from engine.sqs.message import Message

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    tags TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    modified_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    id TEXT PRIMARY KEY,
    queue TEXT NOT NULL,
    seq INTEGER NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT,
    system TEXT,
    sender_id TEXT NOT NULL,
    sent_ms INTEGER NOT NULL,
    visible_at_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    first_receive_ms INTEGER NOT NULL DEFAULT 0,
    group_id TEXT,
    dedup_id TEXT,
    source_arn TEXT
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, seq);
CREATE TABLE IF NOT EXISTS dedup (
    queue TEXT NOT NULL,
    scope TEXT NOT NULL,
    dedup_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (queue, scope, dedup_id)
);
"""

Change = Callable[[sqlite3.Connection], Any]


@dataclass(frozen=True, slots=True)
class QueueRow:
    name: str
    attributes: dict[str, str]
    tags: dict[str, str]
    created_ms: int
    modified_ms: int


@dataclass(frozen=True, slots=True)
class MessageRow:
    queue: str
    message: Message


@dataclass(frozen=True, slots=True)
class DedupRow:
    queue: str
    key: tuple[str, str]
    message_id: str
    seq: int
    expires_ms: int


def put_queue(row: QueueRow) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO queues VALUES (?, ?, ?, ?, ?)",
            (
                row.name,
                json.dumps(row.attributes),
                json.dumps(row.tags),
                row.created_ms,
                row.modified_ms,
            ),
        )

    return change


def delete_queue(name: str) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM queues WHERE name = ?", (name,))
        conn.execute("DELETE FROM messages WHERE queue = ?", (name,))
        conn.execute("DELETE FROM dedup WHERE queue = ?", (name,))

    return change


def purge_messages(name: str) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM messages WHERE queue = ?", (name,))

    return change


def _message_values(queue: str, m: Message) -> tuple[Any, ...]:
    return (
        m.id,
        queue,
        m.seq,
        m.body,
        json.dumps(m.attributes) if m.attributes else None,
        json.dumps(m.system) if m.system else None,
        m.sender_id,
        m.sent_ms,
        m.visible_at_ms,
        m.receive_count,
        m.first_receive_ms,
        m.group_id,
        m.dedup_id,
        m.source_arn,
    )


def insert_messages(queue: str, messages: list[Message], dedup: list[DedupRow]) -> Change:
    """Sends: the messages and the dedup ids they were sent with, in one change."""
    rows = [_message_values(queue, m) for m in messages]
    dedup_rows = [(d.queue, d.key[0], d.key[1], d.message_id, d.seq, d.expires_ms) for d in dedup]

    def change(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "INSERT OR REPLACE INTO messages VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        if dedup_rows:
            conn.executemany("INSERT OR REPLACE INTO dedup VALUES (?, ?, ?, ?, ?, ?)", dedup_rows)

    return change


def delete_messages(ids: Iterable[str]) -> Change:
    keys = [(i,) for i in ids]

    def change(conn: sqlite3.Connection) -> None:
        conn.executemany("DELETE FROM messages WHERE id = ?", keys)

    return change


def update_receipts(messages: Iterable[Message]) -> Change:
    """Receive bookkeeping (deferred): counts, first receive, when each is visible again."""
    rows = [(m.receive_count, m.first_receive_ms, m.visible_at_ms, m.id) for m in messages]

    def change(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "UPDATE messages SET receive_count = ?, first_receive_ms = ?, visible_at_ms = ? "
            "WHERE id = ?",
            rows,
        )

    return change


def move_messages(target: str, messages: Iterable[Message]) -> Change:
    """Dead-lettered messages now belong to `target` (one statement each: the move is atomic)."""
    rows = [(target, m.seq, m.source_arn, m.visible_at_ms, m.id) for m in messages]

    def change(conn: sqlite3.Connection) -> None:
        conn.executemany(
            "UPDATE messages SET queue = ?, seq = ?, source_arn = ?, visible_at_ms = ? "
            "WHERE id = ?",
            rows,
        )

    return change


def expire_dedup(now_ms: int) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM dedup WHERE expires_ms <= ?", (now_ms,))

    return change


@dataclass(frozen=True, slots=True)
class Snapshot:
    queues: list[QueueRow]
    messages: list[MessageRow]
    dedup: list[DedupRow]


def load(conn: sqlite3.Connection) -> Snapshot:
    """Everything, messages in send order (so each queue's order is rebuilt as it was)."""
    queues = [
        QueueRow(name, json.loads(attributes), json.loads(tags), created, modified)
        for name, attributes, tags, created, modified in conn.execute(
            "SELECT name, attributes, tags, created_ms, modified_ms FROM queues"
        )
    ]
    messages = [_message_row(row) for row in conn.execute("SELECT * FROM messages ORDER BY seq")]
    dedup = [
        DedupRow(queue, (scope, dedup_id), message_id, seq, expires)
        for queue, scope, dedup_id, message_id, seq, expires in conn.execute(
            "SELECT * FROM dedup ORDER BY expires_ms"
        )
    ]
    return Snapshot(queues, messages, dedup)


def _message_row(row: tuple[Any, ...]) -> MessageRow:
    (
        message_id,
        queue,
        seq,
        body,
        attributes,
        system,
        sender_id,
        sent_ms,
        visible_at_ms,
        receive_count,
        first_receive_ms,
        group_id,
        dedup_id,
        source_arn,
    ) = row
    message = Message(
        id=message_id,
        seq=seq,
        body=body,
        attributes=json.loads(attributes) if attributes else {},
        system=json.loads(system) if system else {},
        md5_body="",
        md5_attributes=None,
        md5_system=None,
        sender_id=sender_id,
        sent_ms=sent_ms,
        visible_at_ms=visible_at_ms,
        group_id=group_id,
        dedup_id=dedup_id,
        source_arn=source_arn,
        receive_count=receive_count,
        first_receive_ms=first_receive_ms,
    )
    return MessageRow(queue, message)
