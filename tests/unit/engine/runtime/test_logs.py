"""An environment's log stream: raw output on disk, events by line, the invocation's tail."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from engine.model.function import FunctionConfig
from engine.runtime import logs as logs_module
from engine.runtime.log_file import read_events
from engine.runtime.log_format import MAX_EVENT_BYTES
from engine.runtime.log_store import LogStore
from engine.runtime.logs import log_group_name

FUNCTION = FunctionConfig(
    name="fn",
    runtime="python3.11",
    handler="app.handler",
    role="arn:aws:iam::000000000000:role/r",
    memory_mb=128,
    code_digest="ab" * 32,
    code_sha256="x",
    code_size=1,
    last_modified="2026-01-01T00:00:00.000+0000",
    revision_id="rev",
)


def messages(store: LogStore, name: str) -> list[str]:
    stream = store.group("/aws/lambda/fn").streams[name]
    snap = stream.snapshot()
    return [e.message for e in read_events(snap, 0, snap.count)]


def test_one_invocation_raw_on_disk_captured_and_cut_into_events(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(FUNCTION)
    assert stream.name.count("/") == 3 and "[$LATEST]" in stream.name
    assert stream.group == log_group_name(FUNCTION) == "/aws/lambda/fn"
    stream.write(b"before\n")
    stream.begin_capture()
    stream.write_line("START x\n")
    stream.write(b"y" * 20000)
    stream.write_line("END x\nREPORT x\t\n")
    tail = stream.end_capture()
    stream.close()
    assert tail.endswith(b"END x\nREPORT x\t\n")
    assert len(tail) <= 4 * 4096
    assert b"before" not in tail
    raw = stream.path.read_bytes()
    assert raw == b"before\nSTART x\n" + b"y" * 20000 + b"\nEND x\nREPORT x\t\n"
    assert stream.path.parent == tmp_path / "fn"  # a function's group: logs/<function>/
    assert messages(store, stream.name) == [
        "before\n",
        "START x\n",
        "y" * 20000 + "\n",  # the platform line ended the function's unfinished line
        "END x\n",
        "REPORT x\t\n",
    ]


def test_nothing_reaches_the_disk_before_the_invocation_ends(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(FUNCTION)
    stream.begin_capture()
    stream.write(b"one\ntwo\n")
    assert stream.path.read_bytes() == b""
    assert stream.file.count == 0
    stream.end_capture()
    assert stream.path.read_bytes() == b"one\ntwo\n" and stream.file.count == 2
    stream.write(b"between invokes, unfinished")
    assert messages(store, stream.name) == ["one\n", "two\n"]  # a reader flushes; not pending
    stream.close()  # the environment's end cuts what is pending
    assert messages(store, stream.name)[-1] == "between invokes, unfinished"


def test_a_huge_line_becomes_several_events(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(FUNCTION)
    stream.write(b"z" * (MAX_EVENT_BYTES + 10) + b"\n")
    stream.close()
    sizes = [len(m) for m in messages(store, stream.name)]
    assert sizes == [MAX_EVENT_BYTES, 11]


def test_timestamps_never_go_back_in_a_stream(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    times = iter([5_000, 4_000, 6_000, 7_000])
    monkeypatch.setattr(logs_module, "now_ms", lambda: next(times))
    store = LogStore(tmp_path, clock=lambda: 1_000)
    stream = store.open_stream(FUNCTION)
    for line in (b"a\n", b"b\n", b"c\n"):
        stream.write(line)
    stream.close()
    snap = store.group("/aws/lambda/fn").streams[stream.name].snapshot()
    assert [e.timestamp for e in read_events(snap, 0, 3)] == [5_000, 5_000, 6_000]
    assert snap.sorted


def test_the_stream_name_carries_the_version(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(dataclasses.replace(FUNCTION, version="3"))
    assert "/[3]" in stream.name
    stream.close()


def test_events_put_into_a_live_stream_do_not_shift_its_lines(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    stream = store.open_stream(FUNCTION)
    stream.write(b"one\ntw")
    store.put_events(stream.file, [(1, b"from the API")])
    stream.write(b"o\nthree\n")
    stream.close()
    assert messages(store, stream.name) == ["one\n", "tw", "from the API", "o\n", "three\n"]


def test_a_group_directory_removed_behind_the_daemons_back(tmp_path: Path) -> None:
    store = LogStore(tmp_path)
    store.open_stream(FUNCTION).close()
    shutil.rmtree(tmp_path / "fn")
    stream = store.open_stream(FUNCTION)
    stream.write(b"still logged\n")
    stream.close()
    assert messages(store, stream.name) == ["still logged\n"]


def test_a_logging_config_log_group_takes_the_streams(tmp_path: Path) -> None:
    custom = dataclasses.replace(FUNCTION, log_group="/custom/shared")
    store = LogStore(tmp_path)
    stream = store.open_stream(custom)
    stream.write(b"to the custom group\n")
    stream.close()
    assert stream.group == log_group_name(custom) == "/custom/shared"
    assert stream.name in store.group("/custom/shared").streams
    assert "/aws/lambda/fn" not in store.groups
