"""Where each stream mapping's shard reader is: its checkpoints, durable on a journal.

A checkpoint says where a shard's next batch starts: after a sequence number (the last record
handled: succeeded, filtered out, or given up), or at a timestamp (a mapping that started at
LATEST or AT_TIMESTAMP and has handled nothing yet), or at the trim horizon. Checkpoints are
written without waiting for the flush: after a crash a shard may re-read records it had
handled (at least once), never skip one.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Final

from engine.journal.journal import Journal

DB_NAME: Final = "checkpoints.sqlite3"
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS checkpoints (
    mapping TEXT NOT NULL,
    shard TEXT NOT NULL,
    after_sequence TEXT,
    at_timestamp REAL,
    PRIMARY KEY (mapping, shard)
);
"""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    after_sequence: str | None = None
    at_timestamp: float | None = None  # used while after_sequence is None


class Checkpoints:
    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        rows = journal.read(
            lambda c: c.execute(
                "SELECT mapping, shard, after_sequence, at_timestamp FROM checkpoints"
            ).fetchall()
        )
        self._known: dict[tuple[str, str], Checkpoint] = {
            (r[0], r[1]): Checkpoint(r[2], r[3]) for r in rows
        }

    def get(self, mapping: str, shard: str) -> Checkpoint | None:
        return self._known.get((mapping, shard))

    def set(self, mapping: str, shard: str, checkpoint: Checkpoint) -> None:
        if self._known.get((mapping, shard)) == checkpoint:
            return
        self._known[(mapping, shard)] = checkpoint

        def change(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO checkpoints (mapping, shard, after_sequence, at_timestamp)"
                " VALUES (?, ?, ?, ?)",
                (mapping, shard, checkpoint.after_sequence, checkpoint.at_timestamp),
            )

        self.journal.defer(change)

    def forget(self, mapping: str) -> None:
        for key in [k for k in self._known if k[0] == mapping]:
            del self._known[key]

        def change(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM checkpoints WHERE mapping = ?", (mapping,))

        self.journal.defer(change)
