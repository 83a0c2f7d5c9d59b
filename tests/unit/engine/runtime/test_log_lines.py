"""Output cut into events: by line, pending until the newline, bounded, whatever the chunks."""

from __future__ import annotations

import pytest

from engine.runtime.log_lines import LineSplitter


def split(chunks: list[bytes], *, limit: int = 1000, cut: bool = False) -> list[bytes]:
    """The events (as bytes) that feeding `chunks` one by one makes."""
    data = b"".join(chunks)
    ends: list[int] = []
    splitter = LineSplitter(lambda _ts, end, _now: ends.append(end), limit=limit)
    for chunk in chunks:
        splitter.feed(chunk, 0)
    if cut:
        splitter.cut(0)
    starts = [0, *ends[:-1]]
    return [data[s:e] for s, e in zip(starts, ends, strict=True)]


TEXT = b"START x\nhello\n\nworld\nEND x\nREPORT x\t\n"
EVENTS = [b"START x\n", b"hello\n", b"\n", b"world\n", b"END x\n", b"REPORT x\t\n"]


def test_lines_are_events_however_the_output_is_cut() -> None:
    assert split([TEXT]) == EVENTS
    assert split([TEXT[i : i + 1] for i in range(len(TEXT))]) == EVENTS  # a byte at a time
    assert split([TEXT[:5], TEXT[5:13], TEXT[13:]]) == EVENTS


def test_a_line_without_its_newline_waits_for_it_or_for_the_cut() -> None:
    assert split([b"one\ntw"]) == [b"one\n"]
    assert split([b"one\ntw", b"o\n"]) == [b"one\n", b"two\n"]
    assert split([b"one\ntw"], cut=True) == [b"one\n", b"tw"]
    assert split([b"one\n"], cut=True) == [b"one\n"]  # nothing pending: no empty event


def test_a_line_longer_than_the_limit_is_cut_into_pieces() -> None:
    line = b"a" * 25 + b"\n"
    assert split([line], limit=10) == [b"a" * 10, b"a" * 10, b"aaaaa\n"]
    # Pending output reaching the limit becomes an event without waiting for its newline.
    assert split([b"a" * 12], limit=10) == [b"a" * 10]
    assert split([b"a" * 12, b"b" * 9], limit=10) == [b"a" * 10, b"aabbbbbbbb"]


def test_the_timestamp_is_when_the_line_began() -> None:
    stamps: list[tuple[int, int]] = []
    splitter = LineSplitter(lambda ts, end, _now: stamps.append((ts, end)))
    splitter.feed(b"slow", 100)
    splitter.feed(b" line\nquick\n", 250)
    splitter.feed(b"x", 300)
    splitter.cut(400)
    assert stamps == [(100, 10), (250, 16), (300, 17)]


@pytest.mark.parametrize("offset", [0, 7])
def test_ends_are_offsets_in_the_whole_output(offset: int) -> None:
    ends: list[int] = []
    splitter = LineSplitter(lambda _ts, end, _now: ends.append(end), offset=offset)
    splitter.feed(b"ab\ncd\n", 0)
    assert ends == [offset + 3, offset + 6]
    assert splitter.pending == 0
