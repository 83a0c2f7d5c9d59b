"""The schedules' SQLite file: its schema, the changes the service commits, the start-up load.

Each change is a function of a connection, run by the journal's writer thread in a batch.
A schedule row holds its request (AWS's members) and, apart, the last tick it fired, so
marking a tick fired is one small UPDATE committed *before* the tick is sent: a restart never
sends it again. A delivery row exists only while a failed tick waits for a retry.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS groups (
    name TEXT PRIMARY KEY,
    document TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS schedules (
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    last_fired INTEGER,
    PRIMARY KEY (grp, name)
);
CREATE TABLE IF NOT EXISTS deliveries (
    id TEXT PRIMARY KEY,
    document TEXT NOT NULL
);
"""

Change = Callable[[sqlite3.Connection], Any]


def put_group(name: str, document: dict[str, Any]) -> Change:
    text = json.dumps(document)

    def change(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO groups VALUES (?, ?)", (name, text))

    return change


def delete_group(name: str) -> Change:
    """The group and every schedule in it."""

    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM groups WHERE name = ?", (name,))
        conn.execute("DELETE FROM schedules WHERE grp = ?", (name,))

    return change


def put_schedule(group: str, name: str, document: dict[str, Any], last_fired: int | None) -> Change:
    text = json.dumps(document)

    def change(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT OR REPLACE INTO schedules VALUES (?, ?, ?, ?)", (group, name, text, last_fired)
        )

    return change


def delete_schedule(group: str, name: str) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM schedules WHERE grp = ? AND name = ?", (group, name))

    return change


def set_last_fired(group: str, name: str, tick: int) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute(
            "UPDATE schedules SET last_fired = ? WHERE grp = ? AND name = ?", (tick, group, name)
        )

    return change


def put_delivery(delivery_id: str, document: dict[str, Any]) -> Change:
    text = json.dumps(document)

    def change(conn: sqlite3.Connection) -> None:
        conn.execute("INSERT OR REPLACE INTO deliveries VALUES (?, ?)", (delivery_id, text))

    return change


def delete_delivery(delivery_id: str) -> Change:
    def change(conn: sqlite3.Connection) -> None:
        conn.execute("DELETE FROM deliveries WHERE id = ?", (delivery_id,))

    return change


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    group: str
    name: str
    document: dict[str, Any]
    last_fired: int | None


@dataclass(frozen=True, slots=True)
class Snapshot:
    groups: dict[str, dict[str, Any]]
    schedules: list[ScheduleRow]
    deliveries: list[dict[str, Any]]


def load(conn: sqlite3.Connection) -> Snapshot:
    groups = {name: json.loads(doc) for name, doc in conn.execute("SELECT * FROM groups")}
    schedules = [
        ScheduleRow(group, name, json.loads(doc), last_fired)
        for group, name, doc, last_fired in conn.execute(
            "SELECT grp, name, document, last_fired FROM schedules ORDER BY grp, name"
        )
    ]
    deliveries = [json.loads(doc) for (doc,) in conn.execute("SELECT document FROM deliveries")]
    return Snapshot(groups, schedules, deliveries)
