"""Log streams: one file per environment, and the current invocation's captured tail."""

from __future__ import annotations

from pathlib import Path

from engine.runtime.logs import LogStream, log_group_name


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
