"""Pure parts of the pool and the log streams."""

from __future__ import annotations

from pathlib import Path

from engine.invoke.uids import UidAllocator
from engine.runtime.logs import LogStream, log_group_name


def test_uids_are_distinct_until_released_and_never_zero() -> None:
    alloc = UidAllocator(200000, 3)
    got = [alloc.allocate() for _ in range(3)]
    assert sorted(u for u in got if u is not None) == [200000, 200001, 200002]
    assert alloc.allocate() is None
    alloc.release(200001)
    assert alloc.available == 1
    assert alloc.allocate() == 200001


def test_log_stream_writes_file_and_captures_one_invocation(tmp_path: Path) -> None:
    stream = LogStream(tmp_path, "fn", "$LATEST")
    assert stream.name.count("/") == 3 and "[$LATEST]" in stream.name
    stream.write(b"before\n")
    stream.begin_capture()
    stream.write_line("START x\n")
    stream.write(b"y" * 20000)
    stream.write_line("REPORT x\n")
    tail = stream.end_capture()
    stream.close()
    assert tail.endswith(b"REPORT x\n")
    assert len(tail) <= 4 * 4096
    assert b"before" not in tail
    text = stream.path.read_bytes()
    assert text.startswith(b"before\nSTART x\n") and text.endswith(b"REPORT x\n")
    assert stream.path.parent == tmp_path / "fn"
    assert log_group_name("fn") == "/aws/lambda/fn"
