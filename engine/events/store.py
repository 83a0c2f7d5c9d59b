"""The event queue's file: one row per accepted, unfinished event (SQLite, group-committed).

A row is written (and flushed) before the 202; it is deleted once the event has ended
(succeeded, or been handed to its failure targets, or dropped). Between attempts its counts
and due time are updated without waiting for the flush: after a crash an event may be
attempted again (a duplicate), never lost. ``running`` marks an attempt under way, so a
restart can count the attempts it re-runs.

Payloads up to `INLINE_PAYLOAD_BYTES` stay in memory with their event; a bigger one (up to
1 MB) is left in the file while its event waits and read back for its attempt, so a backlog
costs memory by the number of events, not by their size.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

Change = Callable[[sqlite3.Connection], None]

DB_NAME: Final = "events.sqlite3"
INLINE_PAYLOAD_BYTES: Final = 8192
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id TEXT NOT NULL UNIQUE,
    function TEXT NOT NULL,
    qualifier TEXT,
    payload BLOB NOT NULL,
    received_ms INTEGER NOT NULL,
    due_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    backoffs INTEGER NOT NULL DEFAULT 0,
    running INTEGER NOT NULL DEFAULT 0
);
"""


@dataclass(slots=True, eq=False, kw_only=True)
class Event:
    request_id: str  # the 202's x-amzn-RequestId and the function's aws_request_id
    function: str
    qualifier: str | None  # as invoked (None: $LATEST)
    payload: bytes | None  # None: bigger than INLINE_PAYLOAD_BYTES, and in the file only
    received_ms: int
    due_ms: int
    attempts: int = 0  # invocations that ran
    backoffs: int = 0  # throttles and platform errors
    running: bool = False


def insert(event: Event) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO events (request_id, function, qualifier, payload, received_ms, due_ms)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            (
                event.request_id,
                event.function,
                event.qualifier,
                event.payload,
                event.received_ms,
                event.due_ms,
            ),
        )

    return change


def update(event: Event) -> Change:
    values = (event.due_ms, event.attempts, event.backoffs, int(event.running), event.request_id)

    def change(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE events SET due_ms = ?, attempts = ?, backoffs = ?, running = ?"
            " WHERE request_id = ?",
            values,
        )

    return change


def delete(request_id: str) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM events WHERE request_id = ?", (request_id,))

    return change


def payload_of(request_id: str) -> Callable[[sqlite3.Connection], bytes]:
    def query(conn: sqlite3.Connection) -> bytes:
        row = conn.execute("SELECT payload FROM events WHERE request_id = ?", (request_id,))
        (payload,) = row.fetchone()
        return bytes(payload)

    return query


def load(conn: sqlite3.Connection) -> list[Event]:
    """Every stored event in acceptance order, big payloads left in the file."""
    rows = conn.execute(
        "SELECT request_id, function, qualifier,"
        " CASE WHEN length(payload) <= ? THEN payload END,"
        " received_ms, due_ms, attempts, backoffs, running FROM events ORDER BY seq",
        (INLINE_PAYLOAD_BYTES,),
    ).fetchall()
    return [
        Event(
            request_id=r[0],
            function=r[1],
            qualifier=r[2],
            payload=None if r[3] is None else bytes(r[3]),
            received_ms=r[4],
            due_ms=r[5],
            attempts=r[6],
            backoffs=r[7],
            running=bool(r[8]),
        )
        for r in rows
    ]
