"""The streams' SQLite file: its schema, the changes the service commits, the start-up load.

Each change is a function of a connection, run by the journal's writer thread inside a batch
transaction. Stream changes and records are awaited commits (answered once on disk); trims are
deferred (a trim lost in a crash is done again at the next start). Records are keyed by their
stream's epoch, not its name, so a late change of a deleted stream never touches a new stream
of the same name.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS streams (
    name TEXT PRIMARY KEY,
    epoch_ms INTEGER NOT NULL UNIQUE,
    mode TEXT NOT NULL,
    shard_count INTEGER NOT NULL,
    retention_hours INTEGER NOT NULL,
    max_record_kib INTEGER NOT NULL,
    tags TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    epoch_ms INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    partition_key TEXT NOT NULL,
    data BLOB NOT NULL,
    arrival_s REAL NOT NULL,
    PRIMARY KEY (epoch_ms, shard, ordinal)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS horizons (
    epoch_ms INTEGER NOT NULL,
    shard INTEGER NOT NULL,
    ordinal INTEGER NOT NULL,
    PRIMARY KEY (epoch_ms, shard)
) WITHOUT ROWID;
"""

Change = Callable[[sqlite3.Connection], Any]


@dataclass(frozen=True, slots=True)
class StreamRow:
    name: str
    epoch_ms: int
    mode: str
    shard_count: int
    retention_hours: int
    max_record_kib: int
    tags: dict[str, str]


@dataclass(frozen=True, slots=True)
class RecordRow:
    epoch_ms: int
    shard: int
    ordinal: int
    partition_key: str
    data: bytes
    arrival_s: float


def put_stream(row: StreamRow) -> Change:
    values = (
        row.name,
        row.epoch_ms,
        row.mode,
        row.shard_count,
        row.retention_hours,
        row.max_record_kib,
        json.dumps(row.tags),
    )

    def change(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO streams VALUES (?, ?, ?, ?, ?, ?, ?)", values)

    return change


def delete_stream(name: str, epoch_ms: int) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM streams WHERE name = ? AND epoch_ms = ?", (name, epoch_ms))
        conn.execute("DELETE FROM records WHERE epoch_ms = ?", (epoch_ms,))
        conn.execute("DELETE FROM horizons WHERE epoch_ms = ?", (epoch_ms,))

    return change


def insert_records(rows: list[RecordRow]) -> Change:
    values = [(r.epoch_ms, r.shard, r.ordinal, r.partition_key, r.data, r.arrival_s) for r in rows]

    def change(conn: sqlite3.Connection) -> None:
        conn.executemany("INSERT OR REPLACE INTO records VALUES (?, ?, ?, ?, ?, ?)", values)

    return change


def trim_records(epoch_ms: int, shard: int, horizon: int) -> Change:
    """Records below `horizon` expired; the horizon is kept so ordinals are never reused."""

    def change(conn: sqlite3.Connection) -> None:
        conn.execute(
            "DELETE FROM records WHERE epoch_ms = ? AND shard = ? AND ordinal < ?",
            (epoch_ms, shard, horizon),
        )
        conn.execute(
            "INSERT OR REPLACE INTO horizons SELECT ?, ?, ? "
            "WHERE EXISTS (SELECT 1 FROM streams WHERE epoch_ms = ?)",
            (epoch_ms, shard, horizon, epoch_ms),
        )

    return change


@dataclass(frozen=True, slots=True)
class Snapshot:
    streams: list[StreamRow]
    records: list[RecordRow]
    horizons: dict[tuple[int, int], int]


def load(conn: sqlite3.Connection) -> Snapshot:
    """Everything; records in order within each shard."""
    streams = [
        StreamRow(name, epoch, mode, shards, retention, max_kib, json.loads(tags))
        for name, epoch, mode, shards, retention, max_kib, tags in conn.execute(
            "SELECT name, epoch_ms, mode, shard_count, retention_hours, max_record_kib, tags "
            "FROM streams"
        )
    ]
    records = [
        RecordRow(epoch, shard, ordinal, key, bytes(data), arrival)
        for epoch, shard, ordinal, key, data, arrival in conn.execute(
            "SELECT epoch_ms, shard, ordinal, partition_key, data, arrival_s FROM records "
            "ORDER BY epoch_ms, shard, ordinal"
        )
    ]
    horizons = {
        (epoch, shard): ordinal
        for epoch, shard, ordinal in conn.execute("SELECT epoch_ms, shard, ordinal FROM horizons")
    }
    return Snapshot(streams, records, horizons)
