"""The group-commit store: results after the flush, failures alone, batching, shutdown."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import trio
import trio.lowlevel

from engine.errors import ConfigError
from engine.journal.journal import Journal

SCHEMA = "CREATE TABLE IF NOT EXISTS t (k TEXT PRIMARY KEY, v INTEGER);"


def insert(key: str, value: int) -> Callable[[sqlite3.Connection], int]:
    def change(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t VALUES (?, ?)", (key, value))
        return value * 2

    return change


def rows(conn: sqlite3.Connection) -> dict[str, int]:
    return dict(conn.execute("SELECT k, v FROM t").fetchall())


async def test_commit_returns_the_change_result_once_on_disk(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3", SCHEMA)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        assert await journal.commit(insert("a", 1)) == 2
        other = sqlite3.connect(tmp_path / "j.sqlite3")  # another reader sees it committed
        assert rows(other) == {"a": 1}
        other.close()
        nursery.cancel_scope.cancel()


async def test_a_failing_change_fails_alone(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3", SCHEMA)
    outcomes: dict[str, object] = {}

    async def commit(key: str, value: int) -> None:
        try:
            outcomes[f"{key}{value}"] = await journal.commit(insert(key, value))
        except sqlite3.IntegrityError as exc:
            outcomes[f"{key}{value}"] = exc

    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        async with trio.open_nursery() as writers:
            for key, value in [("a", 1), ("a", 2), ("b", 3)]:
                writers.start_soon(commit, key, value)
        nursery.cancel_scope.cancel()
    # the two "a" changes race (trio schedules the writers in no fixed order): one wins
    failed = [k for k, v in outcomes.items() if isinstance(v, sqlite3.IntegrityError)]
    assert len(failed) == 1 and failed[0] in ("a1", "a2")
    winner = 3 - int(failed[0][1])
    assert outcomes["b3"] == 6 and outcomes[f"a{winner}"] == winner * 2
    journal = Journal(tmp_path / "j.sqlite3", SCHEMA)
    assert journal.read(rows) == {"a": winner, "b": 3}
    journal.close()


async def commit_one(journal: Journal, change: Callable[[sqlite3.Connection], int]) -> None:
    await journal.commit(change)


async def test_concurrent_commits_share_batches(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3", SCHEMA)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        async with trio.open_nursery() as writers:
            for i in range(200):
                writers.start_soon(commit_one, journal, insert(f"k{i}", i))
        nursery.cancel_scope.cancel()
    assert journal.stats.changes == 200
    assert journal.stats.batches < 200 and journal.stats.largest_batch > 1


async def test_deferred_changes_are_committed_at_shutdown(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3", SCHEMA)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        await trio.lowlevel.checkpoint()
        journal.defer(insert("late", 1))
        nursery.cancel_scope.cancel()
    reopened = Journal(tmp_path / "j.sqlite3", SCHEMA)
    assert reopened.read(rows) == {"late": 1}
    reopened.close()


def test_a_second_journal_on_the_same_file_is_refused(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.sqlite3", SCHEMA)
    with pytest.raises(ConfigError, match="in use by another lambdalet daemon"):
        Journal(tmp_path / "j.sqlite3", SCHEMA)
    journal.close()
