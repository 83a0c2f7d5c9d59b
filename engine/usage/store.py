"""The ledger's SQLite file: one row per minute and key, added to by each flush.

Flushes are additive upserts, so several flushes within one minute (every few seconds) and
flushes of minutes that ended long ago all land in the same row. Reads aggregate a window by
calendar month (the free tier is monthly) and key.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from engine.usage.ledger import Key, Row

DB_NAME: Final = "usage.sqlite3"
SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS usage (
    minute INTEGER NOT NULL,
    function TEXT NOT NULL,
    qualifier TEXT NOT NULL,
    architecture TEXT NOT NULL,
    memory_mb INTEGER NOT NULL,
    requests INTEGER NOT NULL DEFAULT 0,
    billed_ms INTEGER NOT NULL DEFAULT 0,
    init_billed_ms INTEGER NOT NULL DEFAULT 0,
    provisioned_billed_ms INTEGER NOT NULL DEFAULT 0,
    provisioned_env_ms INTEGER NOT NULL DEFAULT 0,
    restores INTEGER NOT NULL DEFAULT 0,
    snapshot_ms INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, function, qualifier, architecture, memory_mb)
) WITHOUT ROWID;
"""
# Columns added since the table's first version (SnapStart's): a file written before gets them.
ADDED_COLUMNS: Final = ("restores", "snapshot_ms")
_ADD: Final = """
INSERT INTO usage VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (minute, function, qualifier, architecture, memory_mb) DO UPDATE SET
    requests = requests + excluded.requests,
    billed_ms = billed_ms + excluded.billed_ms,
    init_billed_ms = init_billed_ms + excluded.init_billed_ms,
    provisioned_billed_ms = provisioned_billed_ms + excluded.provisioned_billed_ms,
    provisioned_env_ms = provisioned_env_ms + excluded.provisioned_env_ms,
    restores = restores + excluded.restores,
    snapshot_ms = snapshot_ms + excluded.snapshot_ms
"""

Change = Callable[[sqlite3.Connection], None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """One key's usage summed over a span (a month of a window)."""

    month: str  # "YYYY-MM" (UTC)
    key: Key
    requests: int
    billed_ms: int
    init_billed_ms: int
    provisioned_billed_ms: int
    provisioned_env_ms: int
    restores: int = 0
    snapshot_ms: int = 0


def upgrade(conn: sqlite3.Connection) -> None:
    """Add the columns a file written by an earlier lambdalet lacks (zero for its rows)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(usage)")}
    for column in ADDED_COLUMNS:
        if column not in have:
            conn.execute(f"ALTER TABLE usage ADD COLUMN {column} INTEGER NOT NULL DEFAULT 0")


def add(rows: list[Row]) -> Change:
    values = [(minute, *key, *cell.values()) for minute, key, cell in rows]

    def change(conn: sqlite3.Connection) -> None:
        conn.executemany(_ADD, values)

    return change


def expire(before_s: int) -> Change:
    """Forget the minutes that started before `before_s` (unix seconds)."""

    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM usage WHERE minute < ?", (before_s,))

    return change


def query(
    since_s: int, until_s: float, *, function: str | None = None, qualifier: str | None = None
) -> Callable[[sqlite3.Connection], list[Usage]]:
    """Usage of the minutes starting in [since_s, until_s), by month and key."""
    where = "minute >= ? AND minute < ?"
    params: list[object] = [since_s, until_s]
    if function is not None:
        where += " AND function = ?"
        params.append(function)
    if qualifier is not None:
        where += " AND qualifier = ?"
        params.append(qualifier)
    sql = (
        "SELECT strftime('%Y-%m', minute, 'unixepoch') AS month, function, qualifier,"
        " architecture, memory_mb, SUM(requests), SUM(billed_ms), SUM(init_billed_ms),"
        " SUM(provisioned_billed_ms), SUM(provisioned_env_ms), SUM(restores), SUM(snapshot_ms)"
        " FROM usage"
        f" WHERE {where} GROUP BY month, function, qualifier, architecture, memory_mb"
        " ORDER BY function, qualifier, architecture, memory_mb, month"
    )

    def read(conn: sqlite3.Connection) -> list[Usage]:
        return [
            Usage(
                month=r[0],
                key=(r[1], r[2], r[3], r[4]),
                requests=r[5],
                billed_ms=r[6],
                init_billed_ms=r[7],
                provisioned_billed_ms=r[8],
                provisioned_env_ms=r[9],
                restores=r[10],
                snapshot_ms=r[11],
            )
            for r in conn.execute(sql, params)
        ]

    return read
