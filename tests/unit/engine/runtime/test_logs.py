"""Log streams: one file per environment, and the current invocation's captured tail."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.runtime.logs import LogStream, group_directory, log_group_name


def test_log_stream_writes_file_and_captures_one_invocation(tmp_path: Path) -> None:
    stream = LogStream(tmp_path, "/aws/lambda/fn", "$LATEST")
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


def test_a_configured_log_group_replaces_the_default() -> None:
    assert log_group_name("fn", "") == "/aws/lambda/fn"
    assert log_group_name("fn", "cool_lambda") == "cool_lambda"


@pytest.mark.parametrize(
    ("group", "directory"),
    [
        ("/aws/lambda/fn", "fn"),  # a function's default group: the directory it always had
        ("/aws/lambda/other-fn_2", "other-fn_2"),  # another function's group is that one's
        ("cool_lambda", "@cool_lambda"),  # never a function's directory (no name has "@")
        ("/aws/lambda/", "@%2Faws%2Flambda%2F"),
        ("/aws/lambda/a.b", "@%2Faws%2Flambda%2Fa.b"),  # not a function name
        ("/custom/group#1", "@%2Fcustom%2Fgroup#1"),
        ("..", "@.."),
    ],
)
def test_each_group_has_a_directory_of_its_own(group: str, directory: str) -> None:
    assert group_directory(group) == directory


def test_a_stream_of_a_custom_group_is_written_in_its_directory(tmp_path: Path) -> None:
    stream = LogStream(tmp_path, "/custom/group", "3")
    stream.write(b"x\n")
    stream.close()
    assert stream.group == "/custom/group"
    assert stream.path.parent == tmp_path / "@%2Fcustom%2Fgroup"
    assert "[3]" in stream.name
