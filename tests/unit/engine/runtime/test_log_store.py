"""Log groups on disk: they survive a restart, a delete while an environment writes, a torn
tail; retention and the size bound remove streams, never one still written to."""

from __future__ import annotations

import json
import os
from pathlib import Path

from engine.runtime.log_file import read_events
from engine.runtime.log_format import RECORD
from engine.runtime.log_retention import DAY_MS
from engine.runtime.log_store import LogStore, group_directory
from tests.unit.engine.runtime.test_logs import FUNCTION

NOW = 1_800_000_000_000


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> int:
        return self.now


def events_of(store: LogStore, group: str, stream: str) -> list[tuple[int, str]]:
    snap = store.group(group).streams[stream].snapshot()
    return [(e.timestamp, e.message) for e in read_events(snap, 0, snap.count)]


def test_groups_streams_and_retention_survive_a_restart(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    live = store.open_stream(FUNCTION)
    live.write(b"hello\nworld\n")
    live.end_capture()
    store.create_group("/app/jobs")
    store.put_retention("/app/jobs", 7)
    jobs = store.group("/app/jobs")
    api_stream = store.create_stream(jobs, "worker:1/x")
    store.put_events(api_stream, [(NOW, b"one"), (NOW + 1, b"two\nlines")])
    live.close()

    again = LogStore(tmp_path)
    again.load()
    assert sorted(again.groups) == ["/app/jobs", "/aws/lambda/fn"]
    assert again.group("/app/jobs").retention_days == 7
    assert [m for _, m in events_of(again, "/aws/lambda/fn", live.name)] == ["hello\n", "world\n"]
    assert events_of(again, "/app/jobs", "worker:1/x") == [(NOW, "one"), (NOW + 1, "two\nlines")]
    loaded = again.group("/app/jobs").streams["worker:1/x"]
    assert (loaded.first_ms, loaded.last_ms, loaded.count) == (NOW, NOW + 1, 2)
    again.put_events(loaded, [(NOW + 2, b"three")])  # appending after a restart
    messages = [m for _, m in events_of(again, "/app/jobs", "worker:1/x")]
    assert messages == ["one", "two\nlines", "three"]


def test_a_torn_tail_is_dropped_at_load(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.create_group("g")
    stream = store.create_stream(store.group("g"), "s")
    store.put_events(stream, [(NOW, b"kept"), (NOW, b"lost")])
    with open(stream.events_path, "ab") as f:
        f.write(b"\x01\x02\x03")  # half a record: the crash came mid-write
    with open(stream.log_path, "r+b") as f:
        f.truncate(len(b"kept") + 2)  # and the second event's bytes never all arrived
    again = LogStore(tmp_path)
    again.load()
    assert events_of(again, "g", "s") == [(NOW, "kept")]
    assert stream.events_path.stat().st_size == stream.header_size + RECORD.size


def test_deleting_a_group_an_environment_writes_to_starts_it_again(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(FUNCTION)
    stream.write(b"old\n")
    stream.end_capture()
    store.delete_group("/aws/lambda/fn")
    assert "/aws/lambda/fn" not in store.groups and not (tmp_path / "fn").exists()
    stream.write(b"new\n")
    stream.end_capture()
    assert [m for _, m in events_of(store, "/aws/lambda/fn", stream.name)] == ["new\n"]
    stream.close()
    assert json.loads((tmp_path / "fn" / "group.json").read_text())["name"] == "/aws/lambda/fn"


def test_retention_removes_expired_streams_but_not_a_live_one(tmp_path: Path) -> None:
    clock = Clock()
    store = LogStore(tmp_path, clock=clock, default_retention_days=1)
    group = store.create_group("g")
    old = store.create_stream(group, "old")
    store.put_events(old, [(NOW - 2 * DAY_MS, b"stale")])
    fresh = store.create_stream(group, "fresh")
    store.put_events(fresh, [(NOW, b"fresh")])
    live = store.open_stream(FUNCTION)  # another group; its stream is live
    clock.now = NOW + 3 * DAY_MS
    assert store.sweep() == 2  # "old" and "fresh" are now both past one day
    assert list(store.groups["g"].streams) == []
    assert not old.log_path.exists() and not old.events_path.exists()
    assert live.name in store.groups["/aws/lambda/fn"].streams
    live.close()
    assert store.sweep() == 1  # once closed, the empty stream's creation is its age


def test_a_group_policy_wins_over_the_default(tmp_path: Path) -> None:
    clock = Clock()
    store = LogStore(tmp_path, clock=clock, default_retention_days=1)
    group = store.create_group("g")
    store.put_retention("g", 30)
    stream = store.create_stream(group, "s")
    store.put_events(stream, [(NOW - 5 * DAY_MS, b"five days old")])
    assert store.sweep() == 0
    assert store.horizon_of(group) == NOW - 30 * DAY_MS
    store.put_retention("g", None)
    assert store.sweep() == 1


def test_the_size_bound_removes_the_oldest_streams_first(tmp_path: Path) -> None:
    store = LogStore(tmp_path, clock=Clock(), max_group_bytes=3000)
    group = store.create_group("g")
    for i, name in enumerate(["b", "a", "c"]):
        stream = store.create_stream(group, name)
        store.put_events(stream, [(NOW + i, b"x" * 1000)])
    assert store.sweep() == 1
    assert sorted(group.streams) == ["a", "c"]  # "b" held the oldest event
    assert group.stored_bytes <= 3000


def test_group_directories() -> None:
    root = Path("/r")
    assert group_directory(root, "/aws/lambda/my-fn") == root / "my-fn"
    assert group_directory(root, "/aws/lambda/a/b") == root / "%2Faws%2Flambda%2Fa%2Fb"
    assert group_directory(root, "..") == root / "%2E%2E"
    assert group_directory(root, "/aws/lambda/..") == root / "%2Faws%2Flambda%2F%2E%2E"
    long = group_directory(root, "x" * 300)
    assert long.name.startswith("%~") and len(long.name) < 100
    assert os.sep not in group_directory(root, "/a/b").name
