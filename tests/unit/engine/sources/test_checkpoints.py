"""Checkpoints on their journal: what is set is read back after the file is closed and
opened again (as after a restart); a forgotten mapping's checkpoints are gone from both."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

from engine.sources import checkpoints as checkpoint_store
from engine.sources.checkpoints import Checkpoint
from tests.unit.engine.sources.conftest import open_checkpoints

SEQ = "49600000000000000000000000000000000000000000000000000001"


async def test_checkpoints_read_back_after_reopening_the_file(tmp_path: Path) -> None:
    async with open_checkpoints(tmp_path) as checkpoints:
        assert checkpoints.get("m1", "shardId-000000000000") is None
        checkpoints.set("m1", "shardId-000000000000", Checkpoint(after_sequence=SEQ))
        checkpoints.set("m1", "shardId-000000000001", Checkpoint(at_timestamp=1_700_000_000.125))
        checkpoints.set("m1", "shardId-000000000001", Checkpoint(after_sequence="7"))  # moved
        checkpoints.set("m2", "shardId-000000000000", Checkpoint())  # the trim horizon
        checkpoints.set("m3", "shardId-000000000000", Checkpoint(at_timestamp=1_700_000_000.5))
        assert checkpoints.get("m1", "shardId-000000000001") == Checkpoint(after_sequence="7")
    async with open_checkpoints(tmp_path) as reopened:
        assert reopened.get("m1", "shardId-000000000000") == Checkpoint(after_sequence=SEQ)
        assert reopened.get("m1", "shardId-000000000001") == Checkpoint(after_sequence="7")
        assert reopened.get("m2", "shardId-000000000000") == Checkpoint()
        assert reopened.get("m3", "shardId-000000000000") == Checkpoint(
            at_timestamp=1_700_000_000.5
        )
        assert reopened.get("m4", "shardId-000000000000") is None


async def test_a_forgotten_mapping_leaves_no_checkpoint_behind(tmp_path: Path) -> None:
    async with open_checkpoints(tmp_path) as checkpoints:
        checkpoints.set("gone", "shardId-000000000000", Checkpoint(after_sequence="1"))
        checkpoints.set("gone", "shardId-000000000001", Checkpoint(after_sequence="2"))
        checkpoints.set("kept", "shardId-000000000000", Checkpoint(after_sequence="3"))
    async with open_checkpoints(tmp_path) as checkpoints:
        checkpoints.forget("gone")
        assert checkpoints.get("gone", "shardId-000000000000") is None
        assert checkpoints.get("kept", "shardId-000000000000") == Checkpoint(after_sequence="3")
    with closing(sqlite3.connect(tmp_path / checkpoint_store.DB_NAME)) as conn:
        rows = conn.execute("SELECT mapping, shard, after_sequence FROM checkpoints").fetchall()
    assert rows == [("kept", "shardId-000000000000", "3")]
    async with open_checkpoints(tmp_path) as reopened:
        assert reopened.get("gone", "shardId-000000000001") is None
