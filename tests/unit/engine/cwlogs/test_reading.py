"""GetLogEvents' pages and tokens, FilterLogEvents' merge and continuation, over real files."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.cwlogs import reading
from engine.cwlogs.filter_pattern import compile_filter_pattern
from engine.cwlogs.reading import Window, filter_events, get_events, overlaps
from engine.runtime.log_file import Snapshot, first_at_or_after
from engine.runtime.log_store import LogStore

T = 1_800_000_000_000


def stream_of(tmp_path: Path, events: list[tuple[int, bytes]], name: str = "s") -> Snapshot:
    store = LogStore(tmp_path)
    group = store.ensure_group("g")
    stream = store.create_stream(group, name)
    store.put_events(stream, events)
    return stream.snapshot()


TEN = [(T + i, f"event {i}".encode()) for i in range(10)]


def texts(page_events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.message for e in page_events]


def test_from_the_head_forward_then_nothing_new_gives_the_same_token(tmp_path: Path) -> None:
    snap = stream_of(tmp_path, TEN)
    page = get_events(snap, Window(), limit=4, direction="f", position=None)
    assert texts(page.events) == ["event 0", "event 1", "event 2", "event 3"]
    assert (page.forward, page.backward) == (4, 0)
    page = get_events(snap, Window(), limit=100, direction="f", position=page.forward)
    assert texts(page.events)[-1] == "event 9" and page.forward == 10
    again = get_events(snap, Window(), limit=100, direction="f", position=10)
    assert again.events == [] and again.forward == 10 and again.backward == 10


def test_without_token_the_latest_come_back_oldest_first(tmp_path: Path) -> None:
    snap = stream_of(tmp_path, TEN)
    page = get_events(snap, Window(), limit=3, direction="b", position=None)
    assert texts(page.events) == ["event 7", "event 8", "event 9"]
    assert (page.forward, page.backward) == (10, 7)
    older = get_events(snap, Window(), limit=5, direction="b", position=page.backward)
    assert texts(older.events) == [f"event {i}" for i in range(2, 7)]
    head = get_events(snap, Window(), limit=5, direction="b", position=2)
    assert texts(head.events) == ["event 0", "event 1"] and head.backward == 0
    none = get_events(snap, Window(), limit=5, direction="b", position=0)
    assert none.events == [] and none.backward == 0 and none.forward == 0


def test_a_time_window_bounds_both_directions(tmp_path: Path) -> None:
    snap = stream_of(tmp_path, TEN)
    window = Window(low=T + 3, high=T + 6)  # [3, 6)
    forward = get_events(snap, window, limit=100, direction="f", position=None)
    assert texts(forward.events) == ["event 3", "event 4", "event 5"]
    assert forward.forward == 6  # event 6 is not consumed: a wider window would find it
    backward = get_events(snap, window, limit=100, direction="b", position=None)
    assert texts(backward.events) == ["event 3", "event 4", "event 5"]


def test_a_page_holds_at_most_a_megabyte(tmp_path: Path) -> None:
    big = [(T + i, b"x" * 300_000) for i in range(5)]
    snap = stream_of(tmp_path, big)
    page = get_events(snap, Window(), limit=100, direction="f", position=None)
    assert len(page.events) == 3 and page.forward == 3


def test_filter_merges_streams_by_time_and_continues_after_the_last(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    group = store.ensure_group("g")
    for name, offset in (("a", 0), ("b", 1)):
        stream = store.create_stream(group, name)
        events = [(T + 2 * i + offset, f"{name}{i} ERROR".encode()) for i in range(5)]
        store.put_events(stream, events)
    snaps = store.snapshots(group.streams.values())
    found, more = filter_events(snaps, Window(), matches=None, limit=4, after=None)
    assert [f.event.message for f in found] == ["a0 ERROR", "b0 ERROR", "a1 ERROR", "b1 ERROR"]
    assert more == (T + 3, "b", 1)
    rest, more = filter_events(snaps, Window(), matches=None, limit=100, after=more)
    assert [f.event.message[:2] for f in rest] == ["a2", "b2", "a3", "b3", "a4", "b4"]
    assert more is None
    window = Window(low=T + 2, high=T + 4, high_inclusive=True)
    only_a = compile_filter_pattern("a2 ?ERROR ?WARN")
    found, _ = filter_events(snaps, window, matches=only_a, limit=100, after=None)
    assert [f.event.message for f in found] == ["a2 ERROR"]


def test_a_stream_put_out_of_order_is_read_in_time_order(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    group = store.ensure_group("g")
    stream = store.create_stream(group, "s")
    store.put_events(stream, [(T + 5, b"late")])
    store.put_events(stream, [(T + 1, b"early")])
    snap = stream.snapshot()
    assert not snap.sorted and (stream.first_ms, stream.last_ms) == (T + 1, T + 5)
    found, _ = filter_events([snap], Window(low=T), matches=None, limit=10, after=None)
    assert [f.event.message for f in found] == ["early", "late"]
    reloaded = LogStore(tmp_path)
    reloaded.load()
    again = reloaded.group("g").streams["s"]
    assert not again.sorted and (again.first_ms, again.last_ms) == (T + 1, T + 5)


def test_streams_outside_the_window_are_not_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LogStore(tmp_path)
    group = store.ensure_group("g")
    for name, at in (("old", T), ("new", T + 1000)):
        store.put_events(store.create_stream(group, name), [(at, name.encode())])
    store.create_stream(group, "empty")
    opened: list[str] = []
    real = first_at_or_after

    def spy(snap: Snapshot, timestamp_ms: int) -> int:
        opened.append(snap.name)
        return real(snap, timestamp_ms)

    monkeypatch.setattr(reading, "first_at_or_after", spy)
    snaps = store.snapshots(group.streams.values())
    found, _ = filter_events(snaps, Window(low=T + 500), matches=None, limit=10, after=None)
    assert [f.event.message for f in found] == ["new"]
    assert opened == ["new"]
    assert [s.name for s in snaps if overlaps(s, Window(high=T + 10, high_inclusive=True))] == [
        "old"
    ]
